package blobs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A spool file holds a transfer from the network until it is complete, and only then goes
// to the store. A store may serialise its writes (store/local holds one lock through a whole
// Put, ImportCAR or Delete; kubo's add holds its GC lock), so streaming a client's or a
// peer's bytes straight in would let one slow sender hold up every other upload, every
// fetch, and every erasure, for as long as it keeps sending.

// errSpoolDisk marks a spool failure on this node's disk rather than the sender's side.
var errSpoolDisk = errors.New("blobs: spool")

// spool copies r into a new file in SpoolDir and returns it at offset 0 with its length.
// The file is unlinked at once where the system allows it, so that a crash leaves nothing
// behind; unspool closes it (and removes it elsewhere).
func (s *Service) spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "transfer-")
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errSpoolDisk, err)
	}
	if os.Remove(f.Name()) != nil {
		s.spooled.Store(f.Name(), true)
	}
	dw := &diskWriter{f: f}
	n, err := io.Copy(dw, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
		dw.err = err
	}
	if dw.err != nil {
		err = fmt.Errorf("%w: %v", errSpoolDisk, dw.err)
	}
	if err != nil {
		s.unspool(f)
		return nil, n, err
	}
	return f, n, nil
}

func (s *Service) unspool(f *os.File) {
	f.Close()
	if _, ok := s.spooled.LoadAndDelete(f.Name()); ok {
		os.Remove(f.Name())
	}
}

// diskWriter remembers a write error, which is the node's, not the sender's.
type diskWriter struct {
	f   *os.File
	err error
}

func (w *diskWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// clearSpool removes what a crash left in SpoolDir on a system that cannot unlink open files.
func clearSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}
