package proxy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// fileVault is the vault's earlier layout, one file per grant, kept in the tests: to write
// the directories a migration starts from, and to measure the database against it. It does
// on disk what the earlier vault did: a write through atomicfile (temporary file, fsync,
// rename, directory fsync); a deletion overwrites the file with zeros, fsyncs and removes
// it, then fsyncs the directory once per block; opening lists the directory into a set, and
// reconciling looks every held grant up in committed state.
type fileVault struct {
	dir  string
	aead cipherAEAD
	held map[protocol.ID]struct{}
}

func openFileVault(dir string, aead cipherAEAD) (*fileVault, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fv := &fileVault{dir: dir, aead: aead, held: make(map[protocol.ID]struct{}, len(ents))}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		if id, ok := grantOfFile(e.Name()); ok && !e.IsDir() {
			fv.held[id] = struct{}{}
		}
	}
	return fv, nil
}

func (fv *fileVault) path(g protocol.ID) string { return filepath.Join(fv.dir, g.String()) }

func (fv *fileVault) put(g protocol.ID, value []byte) error {
	if _, ok := fv.held[g]; ok {
		return ErrHeld
	}
	if err := atomicfile.WriteFile(fv.path(g), value, 0o600); err != nil {
		return err
	}
	fv.held[g] = struct{}{}
	return nil
}

func (fv *fileVault) get(g protocol.ID) (*umbral.VerifiedKeyFrag, error) {
	if _, ok := fv.held[g]; !ok {
		return nil, ErrNotHeld
	}
	b, err := readBounded(fv.path(g), int64(vaultValueSize)+1)
	if err != nil {
		return nil, err
	}
	return openValue(fv.aead, g, b)
}

func (fv *fileVault) deleteBlock(ids []protocol.ID) error {
	removed := 0
	for _, id := range ids {
		if _, ok := fv.held[id]; !ok {
			continue
		}
		if f, err := os.OpenFile(fv.path(id), os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(make([]byte, vaultValueSize))
			_ = f.Sync()
			f.Close()
		}
		if err := os.Remove(fv.path(id)); err != nil {
			return err
		}
		delete(fv.held, id)
		removed++
	}
	if removed == 0 {
		return nil
	}
	return atomicfile.SyncDir(fv.dir)
}

// reconcile deletes the fragments whose grant is unknown or ended in committed state.
func (fv *fileVault) reconcile(l Ledger) (deleted int, err error) {
	snap, err := l.Committed()
	if err != nil {
		return 0, err
	}
	defer snap.Release()
	var dead []protocol.ID
	for _, id := range sortedIDs(fv.held) {
		g, err := snap.Grant(id)
		if errors.Is(err, protocol.ErrNotFound) || (err == nil && depositLive(g, snap.Time) != nil) {
			dead = append(dead, id)
		} else if err != nil {
			return 0, err
		}
	}
	return len(dead), fv.deleteBlock(dead)
}

// writeFileLayout writes, unsynced (a fixture, not a measurement), a file-per-grant vault
// directory holding value sealed for each of ids.
func writeFileLayout(tb testing.TB, dir string, aead cipherAEAD, kf *umbral.VerifiedKeyFrag, ids []protocol.ID) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	v := &Vault{aead: aead}
	for _, id := range ids {
		value, err := v.sealValue(id, kf)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id.String()), value, 0o600); err != nil {
			tb.Fatal(fmt.Errorf("fixture: %w", err))
		}
	}
}
