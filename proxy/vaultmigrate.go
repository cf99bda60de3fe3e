package proxy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Until the vault was a database it was a directory with one file per grant, named by the
// grant id in lowercase hex, holding exactly the value the database now keeps under the grant
// (SPEC.md §3, "Migration"). On the first start of the database layout, the directory is
// renamed aside (to fileLayoutDir), the database created in its place, every file copied in
// as it is, and the directory removed. Each step can be interrupted and is redone at the next
// start: a directory set aside means the migration has not finished.

// fileLayoutDir is where the file-per-grant directory dir waits while it is migrated.
func fileLayoutDir(dir string) string { return dir + ".files" }

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
	aside := fileLayoutDir(dir)
	if _, err := os.Lstat(aside); err == nil {
		return fmt.Errorf("proxy: vault: both %s and %s hold files; move one of them away", dir, aside)
	}
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

// migrateFileLayout copies the files of a directory set aside into the database, then removes
// them and the directory. A file already in the database was copied before an interruption.
// Names that are neither a grant nor a temporary file are left, with the directory, and
// logged.
func (v *Vault) migrateFileLayout() error {
	aside := fileLayoutDir(v.dir)
	d, err := os.Open(aside)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	defer d.Close()
	var done, temps, foreign []string
	copied := 0
	for {
		ents, err := d.ReadDir(migrateBatch)
		if len(ents) > 0 {
			n, fresh, e := v.copyFiles(aside, ents, &temps, &foreign)
			if e != nil {
				return e
			}
			done, copied = append(done, fresh...), copied+n
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("proxy: vault migration: %w", err)
		}
	}
	// Every copy is durable: the files can go. Unlinked, not overwritten: the database holds
	// the same ciphertext, and a revocation deletes it there (SPEC.md §3).
	for _, name := range append(done, temps...) {
		if err := os.Remove(filepath.Join(aside, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("proxy: vault migration: %w", err)
		}
	}
	if len(foreign) > 0 {
		v.log.Warn("vault: files that are not fragments left in the old vault directory", "dir", aside, "count", len(foreign), "first", foreign[0])
		return atomicfile.SyncDir(aside)
	}
	if err := os.Remove(aside); err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(aside)); err != nil {
		return fmt.Errorf("proxy: vault migration: %w", err)
	}
	v.log.Info("vault: file-per-grant layout migrated", "fragments", copied, "held", v.Len())
	return nil
}

// copyFiles copies the fragment files among ents into the database in one synced write.
// It returns how many it copied and the names of every fragment file now in the database.
func (v *Vault) copyFiles(dir string, ents []fs.DirEntry, temps, foreign *[]string) (int, []string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := new(leveldb.Batch)
	var inDB []string
	for _, e := range ents {
		name := e.Name()
		id, ok := grantOfFile(name)
		switch {
		case atomicfile.IsTemp(name) && e.Type().IsRegular():
			// A write a crash interrupted; it was never acknowledged.
			*temps = append(*temps, name)
			continue
		case !ok || !e.Type().IsRegular():
			*foreign = append(*foreign, name)
			continue
		}
		held, err := v.db.Has(fragKey(id), nil)
		if err != nil {
			return 0, nil, fmt.Errorf("proxy: vault migration: %w", err)
		}
		inDB = append(inDB, name)
		if held {
			continue
		}
		value, err := readBounded(filepath.Join(dir, name), int64(vaultValueSize)+1)
		if err != nil {
			return 0, nil, fmt.Errorf("proxy: vault migration: %w", err)
		}
		// Copied as it is: a damaged file stays damaged, and Get refuses it as before.
		b.Put(fragKey(id), value)
	}
	if b.Len() == 0 {
		return 0, inDB, nil
	}
	n := b.Len()
	if err := v.writeLocked(b, int64(n), 0); err != nil {
		return 0, nil, fmt.Errorf("proxy: vault migration: %w", err)
	}
	return n, inDB, nil
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
