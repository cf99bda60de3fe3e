package proxy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Until the vault was a database it was a directory with one file per grant, named by the
// grant id in lowercase hex, holding exactly the value the database now keeps under the grant
// (SPEC.md §3, "Migration"). On the first start of the database layout the directory is
// renamed aside (fileLayoutDir), the database created in its place and every file copied in
// as it is; then the directory is renamed again (copiedDir), and its files are removed in
// the background. A directory still at fileLayoutDir means the copy has not finished, and the
// next start finishes it; one at copiedDir holds nothing the database lacks, and is only
// ever removed: a fragment deleted since must not be copied back.

func fileLayoutDir(dir string) string { return dir + ".files" }
func copiedDir(dir string) string     { return dir + ".copied" }

// migrateBatch is how many files go into one synced write.
const migrateBatch = 4096

// setAsideFileLayout moves dir aside when it holds files and no database.
func setAsideFileLayout(dir string, log *slog.Logger) error {
	if isVaultDB(dir) {
		return nil
	}
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("proxy: vault dir: %w", err)
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if errors.Is(err, io.EOF) {
		return nil // empty: the database is made here
	} else if err != nil {
		return fmt.Errorf("proxy: vault dir: %w", err)
	}
	for _, other := range []string{fileLayoutDir(dir), copiedDir(dir)} {
		if _, err := os.Lstat(other); err == nil {
			return fmt.Errorf("proxy: vault: both %s and %s hold files; move one of them away", dir, other)
		}
	}
	aside := fileLayoutDir(dir)
	log.Info("vault: moving the file-per-grant layout aside to migrate it", "from", dir, "to", aside, "first", names[0])
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// isVaultDB reports whether dir holds a goleveldb database.
func isVaultDB(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "CURRENT"))
	return err == nil
}

// fileListing is what a file-per-grant directory holds, by kind of name.
type fileListing struct {
	grants  []protocol.ID // fragment files, in key order
	temps   []string      // a write a crash interrupted; never acknowledged
	foreign []string      // anything else
}

// listFileLayout reads the whole directory before anything in it changes.
func listFileLayout(dir string) (*fileListing, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	l := &fileListing{}
	for {
		ents, err := d.ReadDir(migrateBatch)
		for _, e := range ents {
			id, ok := grantOfFile(e.Name())
			switch {
			case ok && e.Type().IsRegular():
				l.grants = append(l.grants, id)
			case atomicfile.IsTemp(e.Name()) && e.Type().IsRegular():
				l.temps = append(l.temps, e.Name())
			default:
				l.foreign = append(l.foreign, e.Name())
			}
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	// In key order the database's tables come out disjoint, and its compactions move them
	// rather than rewrite them.
	slices.SortFunc(l.grants, func(a, b protocol.ID) int { return bytes.Compare(a[:], b[:]) })
	return l, nil
}

// migrateFileLayout finishes a migration: it copies the files of a directory set aside into
// the database, renames the directory to copiedDir, and starts removing it in the background.
func (v *Vault) migrateFileLayout() error {
	aside, copied := fileLayoutDir(v.dir), copiedDir(v.dir)
	l, err := listFileLayout(aside)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(copied); err == nil {
			v.background(func(quit <-chan struct{}) { v.removeCopied(copied, quit) })
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	start, n := time.Now(), 0
	for ids := l.grants; len(ids) > 0; {
		chunk := ids[:min(len(ids), migrateBatch)]
		ids = ids[len(chunk):]
		k, err := v.copyFiles(aside, chunk)
		if err != nil {
			return err
		}
		n += k
	}
	if err := os.Rename(aside, copied); err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(copied)); err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	v.log.Info("vault: file-per-grant layout copied in", "fragments", n, "held", v.Len(), "took", time.Since(start).Round(time.Millisecond))
	v.background(func(quit <-chan struct{}) { v.removeCopied(copied, quit) })
	return nil
}

// copyFiles copies the fragment files of ids in dir into the database in one synced write;
// a grant the database holds already was copied before an interruption.
func (v *Vault) copyFiles(dir string, ids []protocol.ID) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := new(leveldb.Batch)
	for _, id := range ids {
		held, err := v.db.Has(fragKey(id), nil)
		if err != nil {
			return 0, fmt.Errorf("proxy: vault migration: %w", err)
		}
		if held {
			continue
		}
		value, err := readBounded(filepath.Join(dir, id.String()), int64(vaultValueSize)+1)
		if err != nil {
			return 0, fmt.Errorf("proxy: vault migration: %w", err)
		}
		// Copied as it is: a damaged file stays damaged, and Get refuses it as before.
		b.Put(fragKey(id), value)
	}
	n := b.Len()
	if n == 0 {
		return 0, nil
	}
	if err := v.writeLocked(b, int64(n), 0); err != nil {
		return 0, fmt.Errorf("proxy: vault migration: %w", err)
	}
	return n, nil
}

// removeCopied unlinks the fragment and temporary files of a copied directory, then the
// directory, until quit; the next start goes on where Close stopped it. Unlinked, not
// overwritten: the database holds the same ciphertext, and a revocation deletes it there.
// Names that are neither stay, with the directory, and are logged.
func (v *Vault) removeCopied(dir string, quit <-chan struct{}) {
	l, err := listFileLayout(dir)
	if err != nil {
		v.log.Error("vault: listing the copied file-per-grant directory", "err", err)
		return
	}
	start := time.Now()
	names := l.temps
	for _, id := range l.grants {
		names = append(names, id.String())
	}
	for i, name := range names {
		if i%1024 == 0 {
			select {
			case <-quit:
				return
			default:
			}
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			v.log.Error("vault: removing the copied file-per-grant directory", "err", err)
			return
		}
	}
	if len(l.foreign) > 0 {
		v.log.Warn("vault: files that are not fragments left in the old vault directory", "dir", dir, "count", len(l.foreign), "first", l.foreign[0])
		return
	}
	err = os.Remove(dir)
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(dir))
	}
	if err != nil {
		v.log.Error("vault: removing the copied file-per-grant directory", "err", err)
		return
	}
	v.log.Info("vault: file-per-grant directory removed", "files", len(names), "took", time.Since(start).Round(time.Millisecond))
}

// grantOfFile reads a file name of the file-per-grant layout: the grant id in lowercase hex.
func grantOfFile(name string) (protocol.ID, bool) {
	var id protocol.ID
	if len(name) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(name)); err != nil || hex.EncodeToString(id[:]) != name {
		return id, false
	}
	return id, true
}

// readBounded reads at most limit bytes of a regular file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// CountVault counts the fragments of the vault in dir without opening it for writing (no
// key): what a stopped node's vault holds, for its operator. The database keeps its count,
// so this reads one key; a vault not yet migrated is counted by its file names.
// ErrVaultInUse: the node is running, and its metrics have the count.
func CountVault(dir string) (int, error) {
	var db *leveldb.DB
	if isVaultDB(dir) {
		var err error
		if db, err = openVaultDB(dir, true); err != nil {
			return 0, err
		}
		defer db.Close()
	}
	n := 0
	if db != nil {
		c, err := db.Get(metaCount, nil)
		if err != nil {
			return 0, fmt.Errorf("proxy: vault database: %w", err)
		}
		u, ok := readU64(c)
		if !ok {
			return 0, fmt.Errorf("proxy: vault database: malformed count")
		}
		n = int(u)
	}
	// Files of a migration that has not finished, or of a vault not yet migrated.
	dirs := []string{fileLayoutDir(dir)}
	if db == nil {
		dirs = append(dirs, dir)
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return 0, fmt.Errorf("proxy: vault dir: %w", err)
		}
		for _, e := range ents {
			id, ok := grantOfFile(e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			if db != nil {
				if held, err := db.Has(fragKey(id), nil); err != nil || held {
					continue
				}
			}
			n++
		}
	}
	return n, nil
}
