package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// base32Upper is the alphabet of flatfs keys (base32, upper case, no padding).
const base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// makeShardDirs creates the 1,024 shard directories of next-to-last/2 when the store is new.
// flatfs would create each on first use, but then the first blobs' block writes also pay for
// a directory creation each, which on a slow file system is most of a replica's write time.
// Empty shard directories are valid kubo layout. They are made in order and the last one
// ("77") is the sign that all exist, so a later Open costs one stat; if it exists in a store
// flatfs filled on its own, flatfs keeps creating the missing ones as it always did.
func makeShardDirs(blocks string, sync bool) error {
	last := filepath.Join(blocks, base32Upper[31:]+base32Upper[31:])
	if _, err := os.Stat(last); err == nil {
		return nil
	}
	for i := range len(base32Upper) {
		for j := range len(base32Upper) {
			d := filepath.Join(blocks, string([]byte{base32Upper[i], base32Upper[j]}))
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("creating shard directory: %w", err)
			}
		}
	}
	if !sync {
		return nil
	}
	d, err := os.Open(blocks)
	if err != nil {
		return fmt.Errorf("syncing shard directories: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing shard directories: %w", err)
	}
	return nil
}
