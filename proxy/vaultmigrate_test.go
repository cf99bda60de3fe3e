package proxy

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// fileLayoutHome makes root/vault_key and, in root/vault, the file-per-grant layout as the
// earlier vault wrote it (synced writes, the vault's own format) holding kf under ids.
func fileLayoutHome(t *testing.T, root string, kf *umbral.VerifiedKeyFrag, ids []protocol.ID) cipherAEAD {
	t.Helper()
	key, err := loadOrCreateKey(filepath.Join(root, "vault_key"))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	fv, err := openFileVault(filepath.Join(root, "vault"), aead)
	if err != nil {
		t.Fatal(err)
	}
	sealer := &Vault{aead: aead}
	for _, id := range ids {
		value, err := sealer.sealValue(id, kf)
		if err != nil {
			t.Fatal(err)
		}
		if err := fv.put(id, value); err != nil {
			t.Fatal(err)
		}
	}
	return aead
}

func checkHolds(t *testing.T, v *Vault, kf *umbral.VerifiedKeyFrag, ids []protocol.ID) {
	t.Helper()
	want, _ := kf.MarshalBinary()
	for _, id := range ids {
		got, err := v.Get(id)
		if err != nil {
			t.Fatalf("grant %v: %v", id, err)
		}
		if b, _ := got.MarshalBinary(); !bytes.Equal(b, want) {
			t.Fatalf("grant %v: another fragment", id)
		}
	}
	if got, _ := v.Grants(); len(got) != len(ids) || v.Len() != len(ids) {
		t.Fatalf("vault holds %d grants (Len %d), want %d", len(got), v.Len(), len(ids))
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// waitRemoved waits until the background removal of a copied directory leaves exactly
// the names in left (none: the directory itself is gone).
func waitRemoved(t *testing.T, dir string, left ...string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ents, err := os.ReadDir(dir)
		if len(left) == 0 && errors.Is(err, fs.ErrNotExist) {
			return
		}
		if len(left) > 0 && err == nil && len(ents) == len(left) {
			for i, e := range ents {
				if e.Name() != left[i] {
					t.Fatalf("%s keeps %s, want %v", dir, e.Name(), left)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d entries (%v), want %v", dir, len(ents), err, left)
		}
	}
}

// The first start over a file-per-grant directory copies every fragment into the database,
// drops temporary files, removes the old directory, and counts right; the database then
// works as any other, and CountVault reads it.
func TestMigrateFileLayout(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "vault")
	kf := testKFrag(t)
	ids := grantsFrom(0, migrateBatch+50) // more than one batch
	// A few written as the earlier vault wrote them, the rest as fast as a fixture can.
	aead := fileLayoutHome(t, root, kf, ids[:5])
	writeFileLayout(t, dir, aead, kf, ids[5:])
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := CountVault(dir); err != nil || n != len(ids) {
		t.Fatalf("CountVault of the file layout: %d, %v", n, err)
	}
	v := openAt(t, root)
	checkHolds(t, v, kf, ids)
	if !isVaultDB(dir) || exists(fileLayoutDir(dir)) || exists(filepath.Join(dir, ids[0].String())) {
		t.Fatalf("after migration: database %v, directory being copied left %v", isVaultDB(dir), exists(fileLayoutDir(dir)))
	}
	waitRemoved(t, copiedDir(dir))
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("vault directory: %v %v", fi.Mode(), err)
	}
	if _, err := CountVault(dir); !errors.Is(err, ErrVaultInUse) {
		t.Fatalf("CountVault of an open vault: %v, want ErrVaultInUse", err)
	}
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids[:10]})
	v = reopen(t, v, root)
	checkHolds(t, v, kf, ids[10:])
	v.Close()
	if n, err := CountVault(dir); err != nil || n != len(ids)-10 {
		t.Fatalf("CountVault of the database: %d, %v", n, err)
	}
}

// Names that are neither fragments nor temporary files are not copied, and stay with the
// old directory; the fragments beside them are migrated.
func TestMigrateLeavesForeignFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "vault")
	kf := testKFrag(t)
	ids := grantsFrom(0, 3)
	fileLayoutHome(t, root, kf, ids)
	upper := "EE" + ids[0].String()[2:]
	for _, name := range []string{ids[0].String()[:10], upper} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, grantN(99).String()), 0o700); err != nil {
		t.Fatal(err)
	}
	v := openAt(t, root)
	checkHolds(t, v, kf, ids)
	foreign := []string{ids[0].String()[:10], upper, grantN(99).String()}
	slices.Sort(foreign)
	waitRemoved(t, copiedDir(dir), foreign...)
	// The next start finds nothing more to copy.
	v = reopen(t, v, root)
	checkHolds(t, v, kf, ids)
	waitRemoved(t, copiedDir(dir), foreign...)
}

// A migration interrupted at any step finishes at the next start: after the rename, before
// the database exists; and after part of the copy, before the files were removed.
func TestMigrateInterrupted(t *testing.T) {
	kf := testKFrag(t)
	ids := grantsFrom(0, 20)
	t.Run("set aside, no database yet", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "vault")
		fileLayoutHome(t, root, kf, ids)
		if err := os.Rename(dir, fileLayoutDir(dir)); err != nil {
			t.Fatal(err)
		}
		if n, err := CountVault(dir); err != nil || n != len(ids) {
			t.Fatalf("CountVault: %d, %v", n, err)
		}
		checkHolds(t, openAt(t, root), kf, ids)
		if exists(fileLayoutDir(dir)) {
			t.Fatal("old directory left")
		}
	})
	t.Run("part copied", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "vault")
		aead := fileLayoutHome(t, root, kf, ids)
		if err := os.Rename(dir, fileLayoutDir(dir)); err != nil {
			t.Fatal(err)
		}
		v := bareVault(t, dir, aead)
		l, err := listFileLayout(fileLayoutDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		// The copy's first batch reached the database: eight of the files.
		if n, err := v.copyFiles(fileLayoutDir(dir), l.grants[:8]); err != nil || n != 8 {
			t.Fatalf("partial copy: %d, %v", n, err)
		}
		v.db.Close()
		if n, err := CountVault(dir); err != nil || n != len(ids) {
			t.Fatalf("CountVault mid-migration: %d, %v (copied files counted twice?)", n, err)
		}
		checkHolds(t, openAt(t, root), kf, ids)
		if exists(fileLayoutDir(dir)) {
			t.Fatal("directory being copied left")
		}
		waitRemoved(t, copiedDir(dir))
	})
	// Copied, then a revocation deleted a fragment, then the process stopped before the
	// copied directory was removed: the next start removes it, and does not bring the
	// deleted fragment back.
	t.Run("copied, not yet removed", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "vault")
		aead := fileLayoutHome(t, root, kf, ids)
		if err := os.Rename(dir, copiedDir(dir)); err != nil {
			t.Fatal(err)
		}
		v := bareVault(t, dir, aead)
		l, err := listFileLayout(copiedDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.copyFiles(copiedDir(dir), l.grants); err != nil {
			t.Fatal(err)
		}
		v.OnCommit(ledger.CommitInfo{Height: 9, Revoked: ids[:1]})
		v.db.Close()
		if n, err := CountVault(dir); err != nil || n != len(ids)-1 {
			t.Fatalf("CountVault with a copied directory left: %d, %v", n, err)
		}
		v = openAt(t, root)
		checkHolds(t, v, kf, ids[1:])
		waitRemoved(t, copiedDir(dir))
		if v.Has(ids[0]) {
			t.Fatal("the deleted fragment came back from the copied directory")
		}
	})
}

// bareVault opens the database in dir as OpenVault does, without migrating.
func bareVault(t *testing.T, dir string, aead cipherAEAD) *Vault {
	t.Helper()
	db, err := openVaultDB(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	v := &Vault{dir: dir, db: db, aead: aead, pending: map[protocol.ID]bool{}, log: slog.New(slog.DiscardHandler),
		cache: map[protocol.ID]*umbral.VerifiedKeyFrag{}, quit: make(chan struct{})}
	v.ops.write = func(b *leveldb.Batch) error { return db.Write(b, syncWrite) }
	if err := v.loadMeta(); err != nil {
		t.Fatal(err)
	}
	return v
}

// With both a file-per-grant directory and one set aside, the vault does not guess.
func TestMigrateRefusesTwoOldDirectories(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "vault")
	fileLayoutHome(t, root, testKFrag(t), grantsFrom(0, 2))
	if err := os.MkdirAll(fileLayoutDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenVault(dir, filepath.Join(root, "vault_key"), nil); err == nil {
		t.Fatal("opened a vault with two old directories")
	}
	if n, err := CountVault(filepath.Join(root, "nothing")); err != nil || n != 0 {
		t.Fatalf("CountVault of no vault: %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(root, "nothing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("CountVault created a vault")
	}
}
