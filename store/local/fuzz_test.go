package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

// FuzzImportCAR feeds arbitrary bytes to ImportCAR: it must never panic, must fail with
// ErrInvalidCAR (or ErrTooLarge/ErrUnsupported) or succeed, and whatever it accepts must read
// back without error and leave nothing behind when deleted.
func FuzzImportCAR(f *testing.F) {
	ctx := context.Background()
	src, err := local.Open(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer src.Close()
	for _, n := range []int64{0, 100, 262145} {
		c, _, err := src.Put(ctx, storetest.Keystream(n))
		if err != nil {
			f.Fatal(err)
		}
		var car bytes.Buffer
		if err := src.ExportCAR(ctx, c, &car); err != nil {
			f.Fatal(err)
		}
		f.Add(car.Bytes())
	}
	f.Add([]byte{0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := local.Open(t.TempDir(), &local.Options{MaxSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		roots, err := s.ImportCAR(ctx, bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, store.ErrInvalidCAR) && !errors.Is(err, store.ErrTooLarge) {
				t.Fatalf("ImportCAR error %v is neither ErrInvalidCAR nor ErrTooLarge", err)
			}
			if list, _ := s.List(ctx); len(list) != 0 {
				t.Fatalf("failed import left roots %v", list)
			}
			return
		}
		for _, c := range roots {
			rc, err := s.Get(ctx, c)
			if err != nil {
				t.Fatalf("Get(%s) after import: %v", c, err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reading %s after import: %v", c, err)
			}
			if err := s.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Delete(%s): %v", c, err)
			}
		}
		if n, err := s.GC(ctx); err != nil || n != 0 {
			t.Fatalf("GC after deleting every root removed %d blocks (%v); Delete left them", n, err)
		}
	})
}
