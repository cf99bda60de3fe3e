package local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/resilientrecords/resilientrecords/store/local"
)

// BenchmarkImportCAR imports a 32 MiB blob's CAR into fresh stores, 1 or 3 at once (3 is what a
// 4-node network does when a record is committed: every other node fetches the blob).
func BenchmarkImportCAR(b *testing.B) {
	ctx := context.Background()
	src, err := local.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	const size = 32 << 20
	root, _, err := src.Put(ctx, io.LimitReader(rand.Reader, size))
	if err != nil {
		b.Fatal(err)
	}
	var car bytes.Buffer
	if err := src.ExportCAR(ctx, root, &car); err != nil {
		b.Fatal(err)
	}
	for _, importers := range []int{1, 3} {
		b.Run(fmt.Sprintf("importers=%d", importers), func(b *testing.B) {
			b.SetBytes(int64(importers * size))
			for b.Loop() {
				b.StopTimer()
				stores := make([]*local.Store, importers)
				for i := range stores {
					if stores[i], err = local.Open(b.TempDir(), nil); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make([]error, importers)
				for i, s := range stores {
					wg.Go(func() { _, errs[i] = s.ImportCAR(ctx, bytes.NewReader(car.Bytes())) })
				}
				wg.Wait()
				b.StopTimer()
				for i, s := range stores {
					if errs[i] != nil {
						b.Fatal(errs[i])
					}
					s.Close()
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkOpenNew measures opening a new store (it creates the shard directories).
func BenchmarkOpenNew(b *testing.B) {
	for b.Loop() {
		s, err := local.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
