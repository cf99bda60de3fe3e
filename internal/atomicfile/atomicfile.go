// Package atomicfile writes files so that a reader, or the same program after a crash, sees
// either the old contents or the new ones, never a mix, and the new ones survive a power
// loss once WriteFile returns. Every file this project writes on its own behalf (key files,
// settings, network.json) goes through it.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

// WriteFile replaces path with data, mode perm (umask ignored): a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory fsynced so that the
// rename itself is durable.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(perm), renameio.IgnoreUmask())
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making the creations, renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp reports whether name (a base name) is a temporary file WriteFile leaves behind when
// it is interrupted: a dot file. Directories of such files remove them when they open.
func IsTemp(name string) bool { return strings.HasPrefix(name, ".") }
