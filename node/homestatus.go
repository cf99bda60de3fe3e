package node

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/resilientrecords/resilientrecords/proxy"
)

// HomeStatus is what a node's home tells without asking the node: how far its ledger got,
// what its vault holds and what each part takes on disk. `rrec node status` shows it for a
// stopped node, and the disk usage for a running one too.
type HomeStatus struct {
	// Height and Time (unix ns) are the ledger's last committed block; both 0 when the
	// ledger is locked (Locked) or has committed nothing.
	Height int64 `json:"height"`
	Time   int64 `json:"time"`
	// Locked: another process — the node, running — holds the ledger's database or the
	// vault's.
	Locked bool `json:"locked"`
	// VaultFragments: what the vault holds; 0 when it is locked.
	VaultFragments int       `json:"vault_fragments"`
	Disk           DiskUsage `json:"disk"`
}

// DiskUsage is the bytes of the files under each part of a home's data directory.
type DiskUsage struct {
	Ledger int64 `json:"ledger"` // data/ledger: the ledger's state
	Chain  int64 `json:"chain"`  // CometBFT's block store, state, index and WAL: the rest of data/
	Vault  int64 `json:"vault"`  // data/vault
	Blobs  int64 `json:"blobs"`  // data/blobs: the embedded store, upload markers, spool
	// Snapshots: data/snapshots, the ledger state snapshots kept for nodes that rejoin.
	Snapshots int64 `json:"snapshots"`
	Total     int64 `json:"total"`
	// Partial: ctx ended before the walk did (a store of millions of blobs takes a while),
	// so the figures are lower bounds.
	Partial bool `json:"partial,omitempty"`
}

// ReadHomeStatus reads home's status from disk. It opens the ledger read-only, so it never
// disturbs a running node (whose lock makes it report Locked instead), and walks data/ for
// the disk usage until ctx ends.
func ReadHomeStatus(ctx context.Context, home string) (*HomeStatus, error) {
	st := &HomeStatus{}
	db, err := leveldb.OpenFile(filepath.Join(home, ledgerDir), &opt.Options{ReadOnly: true, ErrorIfMissing: true})
	switch {
	case err == nil:
		h, _ := db.Get(metaHeight, nil)
		t, _ := db.Get(metaTime, nil)
		if len(h) == 8 && len(t) == 8 {
			st.Height, st.Time = int64(u64(h)), int64(u64(t))
		}
		db.Close()
	case errors.Is(err, fs.ErrNotExist):
	default:
		// goleveldb's lock error has no sentinel; a database that exists and does not open
		// read-only is, for an operator's view, one a running node holds.
		st.Locked = true
	}
	st.VaultFragments, err = proxy.CountVault(filepath.Join(home, vaultDir))
	if errors.Is(err, proxy.ErrVaultInUse) {
		st.Locked, st.VaultFragments = true, 0 // the running node's metrics have the count
	} else if err != nil {
		return nil, err
	}
	st.Disk, err = diskUsage(ctx, filepath.Join(home, "data"))
	return st, err
}

// diskUsage adds up the sizes of the regular files under data, by part of the home.
func diskUsage(ctx context.Context, data string) (DiskUsage, error) {
	var u DiskUsage
	parts := map[string]*int64{"ledger": &u.Ledger, "vault": &u.Vault, "blobs": &u.Blobs, "snapshots": &u.Snapshots}
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked: a spool file, a deleted fragment
			}
			return err
		}
		if ctx.Err() != nil {
			u.Partial = true
			return filepath.SkipAll
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(data, path)
		first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if p := parts[first]; p != nil {
			*p += fi.Size()
		} else {
			u.Chain += fi.Size()
		}
		u.Total += fi.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return u, err
}
