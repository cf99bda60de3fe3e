package proxy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func testVault(t testing.TB) (*Vault, string) {
	t.Helper()
	dir := t.TempDir()
	v, err := OpenVault(filepath.Join(dir, "vault"), filepath.Join(dir, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, filepath.Join(dir, "vault")
}

// testKFrag is a real fragment; the vault stores it under any grant it is given.
func testKFrag(t testing.TB) *umbral.VerifiedKeyFrag {
	t.Helper()
	keys := make([]*umbral.SecretKey, 3)
	for i := range keys {
		var err error
		if keys[i], err = umbral.GenerateSecretKey(); err != nil {
			t.Fatal(err)
		}
	}
	kfs, err := umbral.GenerateKFrags(keys[0], keys[1].PublicKey(), umbral.NewSigner(keys[2]), 1, 1, true, true)
	if err != nil {
		t.Fatal(err)
	}
	return kfs[0]
}

func grantN(i int) protocol.ID { return protocol.ID{0xee, byte(i >> 16), byte(i >> 8), byte(i)} }

func expiries(from, n int) []ledger.Expiry {
	out := make([]ledger.Expiry, n)
	for i := range out {
		out[i] = ledger.Expiry{Grant: grantN(from + i)}
	}
	return out
}

func fill(t *testing.T, v *Vault, n int) []protocol.ID {
	t.Helper()
	kf := testKFrag(t)
	ids := make([]protocol.ID, n)
	for i := range ids {
		ids[i] = grantN(i)
		if err := v.Put(ids[i], kf, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

type opCount struct{ files, dirSyncs int64 }

func countOps(v *Vault) opCount { return opCount{v.ops.files.Load(), v.ops.dirSyncs.Load()} }

func (a opCount) since(b opCount) opCount { return opCount{a.files - b.files, a.dirSyncs - b.dirSyncs} }

// A block that ends grants this node never held touches nothing on disk, however many.
func TestOnCommitSkipsUnheldGrants(t *testing.T) {
	v, _ := testVault(t)
	held := fill(t, v, 3)
	before := countOps(v)
	revoked := make([]protocol.ID, 1000)
	for i := range revoked {
		revoked[i] = grantN(500_000 + i)
	}
	v.OnCommit(ledger.CommitInfo{Height: 7, Revoked: revoked, Expired: expiries(1000, 100_000)})
	if got := countOps(v).since(before); got != (opCount{}) {
		t.Fatalf("a commit of 101 000 unheld grants cost %d file operations and %d directory syncs, want none", got.files, got.dirSyncs)
	}
	for _, id := range held {
		if !v.Has(id) {
			t.Fatal("a held fragment went with unheld grants")
		}
	}
}

// A commit ending many held grants removes each file and syncs the directory once.
func TestOnCommitSyncsDirectoryOnce(t *testing.T) {
	v, dir := testVault(t)
	ids := fill(t, v, 40)
	before := countOps(v)
	ci := ledger.CommitInfo{Height: 9, Revoked: append(ids[:10:10], ids[5], grantN(9999)), Expired: expiries(10, 20)}
	ci.Expired = append(ci.Expired, expiries(5000, 1000)...)
	ci.Expired = append(ci.Expired, ledger.Expiry{Grant: ids[0]})
	v.OnCommit(ci)
	if got := countOps(v).since(before); got != (opCount{files: 30, dirSyncs: 1}) {
		t.Fatalf("deleting 30 fragments cost %d file operations and %d directory syncs, want 30 and 1", got.files, got.dirSyncs)
	}
	for i, id := range ids {
		_, err := os.Stat(filepath.Join(dir, id.String()))
		if gone := errors.Is(err, fs.ErrNotExist); gone != (i < 30) || v.Has(id) != (i >= 30) {
			t.Fatalf("grant %d: file gone %v, Has %v", i, gone, v.Has(id))
		}
	}
	if got, _ := v.Grants(); len(got) != 10 || got[0] != ids[30] || got[9] != ids[39] {
		t.Fatalf("Grants after the commit: %v", got)
	}
	if _, err := v.Get(ids[0]); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Get of a deleted fragment: %v", err)
	}
}

// A directory sync that fails leaves the commit's deletions pending; the next commit, even
// an empty one, syncs again, and stops once it succeeded.
func TestOnCommitRetriesFailedDirSync(t *testing.T) {
	v, _ := testVault(t)
	ids := fill(t, v, 3)
	v.ops.syncDir = func(string) error { return errors.New("disk on fire") }
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids[:2]})
	if v.Has(ids[0]) || v.Has(ids[1]) || len(v.pending) != 2 {
		t.Fatalf("after a failed sync: held %v %v, %d pending", v.Has(ids[0]), v.Has(ids[1]), len(v.pending))
	}
	v.ops.syncDir = func(string) error { return nil }
	before := countOps(v)
	v.OnCommit(ledger.CommitInfo{Height: 3})
	if got := countOps(v).since(before); got.dirSyncs != 1 || len(v.pending) != 0 {
		t.Fatalf("retry: %d directory syncs, %d pending; want 1 and 0", got.dirSyncs, len(v.pending))
	}
	before = countOps(v)
	v.OnCommit(ledger.CommitInfo{Height: 4})
	if got := countOps(v).since(before); got != (opCount{}) {
		t.Fatalf("a commit with nothing to do cost %+v", got)
	}
}

// A file that cannot be removed stays held and pending, and goes at the next commit once
// it can.
func TestOnCommitRetriesFailedRemove(t *testing.T) {
	v, dir := testVault(t)
	ids := fill(t, v, 2)
	// A non-empty directory in the file's place: removal fails, for root too.
	p := filepath.Join(dir, ids[0].String())
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids})
	if !v.Has(ids[0]) || v.Has(ids[1]) || !v.pending[ids[0]] || len(v.pending) != 1 {
		t.Fatalf("after a failed removal: held %v %v, pending %v", v.Has(ids[0]), v.Has(ids[1]), v.pending)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	v.OnCommit(ledger.CommitInfo{Height: 3})
	if v.Has(ids[0]) || len(v.pending) != 0 {
		t.Fatalf("retry: held %v, pending %v", v.Has(ids[0]), v.pending)
	}
}

// The held set comes from the directory at open: fragments written before are deleted by
// a commit after a restart; temporary files and foreign names are not fragments.
func TestVaultHeldSetAtOpen(t *testing.T) {
	v, dir := testVault(t)
	ids := fill(t, v, 2)
	for _, name := range []string{".tmp-123", ids[0].String()[:10], "EE" + ids[0].String()[2:]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again, err := OpenVault(dir, filepath.Join(filepath.Dir(dir), "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.Grants(); len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("reopened vault holds %v, want %v", got, ids)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file survived the open: %v", err)
	}
	again.OnCommit(ledger.CommitInfo{Height: 5, Expired: expiries(0, 1)})
	if again.Has(ids[0]) || !again.Has(ids[1]) {
		t.Fatal("the reopened vault did not delete the expired fragment it found at open")
	}
}

func BenchmarkOnCommitUnheld(b *testing.B) {
	v, _ := testVault(b)
	kf := testKFrag(b)
	for i := range 100 {
		if err := v.Put(grantN(1_000_000+i), kf, nil); err != nil {
			b.Fatal(err)
		}
	}
	ci := ledger.CommitInfo{Height: 1, Expired: expiries(0, 100_000)}
	b.ReportAllocs()
	for b.Loop() {
		v.OnCommit(ci)
	}
}
