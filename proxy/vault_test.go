package proxy

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// testVault opens a vault in a fresh directory; root holds "vault" and "vault_key".
func testVault(t testing.TB) (v *Vault, root string) {
	t.Helper()
	root = t.TempDir()
	return openAt(t, root), root
}

// openAt opens the vault under root, closed when the test ends.
func openAt(t testing.TB, root string) *Vault {
	t.Helper()
	v, err := OpenVault(filepath.Join(root, "vault"), filepath.Join(root, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// reopen closes v and opens its vault again, as a restart does.
func reopen(t testing.TB, v *Vault, root string) *Vault {
	t.Helper()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return openAt(t, root)
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

func grantsFrom(from, n int) []protocol.ID {
	out := make([]protocol.ID, n)
	for i := range out {
		out[i] = grantN(from + i)
	}
	return out
}

func expiries(from, n int) []ledger.Expiry {
	out := make([]ledger.Expiry, n)
	for i := range out {
		out[i] = ledger.Expiry{Grant: grantN(from + i)}
	}
	return out
}

func fill(t testing.TB, v *Vault, n int) []protocol.ID {
	t.Helper()
	kf := testKFrag(t)
	ids := grantsFrom(0, n)
	for _, id := range ids {
		if err := v.Put(id, kf, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// fillFast stores kf under ids as Put does, but migrateBatch at a time in one synced write:
// for fixtures too large to write one fsync per fragment.
func fillFast(t testing.TB, v *Vault, kf *umbral.VerifiedKeyFrag, ids []protocol.ID) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), migrateBatch)]
		ids = ids[len(chunk):]
		b := new(leveldb.Batch)
		for _, id := range chunk {
			value, err := v.sealValue(id, kf)
			if err != nil {
				t.Fatal(err)
			}
			b.Put(fragKey(id), value)
		}
		if err := v.writeLocked(b, int64(len(chunk)), 0); err != nil {
			t.Fatal(err)
		}
	}
}

type opCount struct{ writes, deleted int64 }

func countOps(v *Vault) opCount { return opCount{v.ops.writes.Load(), v.ops.deleted.Load()} }

func (a opCount) since(b opCount) opCount { return opCount{a.writes - b.writes, a.deleted - b.deleted} }

// A block that ends grants this node never held writes nothing, however many.
func TestOnCommitSkipsUnheldGrants(t *testing.T) {
	v, _ := testVault(t)
	held := fill(t, v, 3)
	before := countOps(v)
	v.OnCommit(ledger.CommitInfo{Height: 7, Revoked: grantsFrom(500_000, 1000), Expired: expiries(1000, 100_000)})
	if got := countOps(v).since(before); got != (opCount{}) {
		t.Fatalf("a commit of 101 000 unheld grants cost %d writes and %d deletions, want none", got.writes, got.deleted)
	}
	for _, id := range held {
		if !v.Has(id) {
			t.Fatal("a held fragment went with unheld grants")
		}
	}
}

// A commit ending many held grants deletes them all in one synced write.
func TestOnCommitOneWrite(t *testing.T) {
	v, _ := testVault(t)
	ids := fill(t, v, 40)
	before := countOps(v)
	ci := ledger.CommitInfo{Height: 9, Revoked: append(ids[:10:10], ids[5], grantN(9999)), Expired: expiries(10, 20)}
	ci.Expired = append(ci.Expired, expiries(5000, 1000)...)
	ci.Expired = append(ci.Expired, ledger.Expiry{Grant: ids[0]})
	v.OnCommit(ci)
	if got := countOps(v).since(before); got != (opCount{writes: 1, deleted: 30}) {
		t.Fatalf("deleting 30 fragments cost %d writes and %d deletions, want 1 and 30", got.writes, got.deleted)
	}
	for i, id := range ids {
		if v.Has(id) != (i >= 30) {
			t.Fatalf("grant %d: Has %v", i, v.Has(id))
		}
	}
	if got, _ := v.Grants(); len(got) != 10 || got[0] != ids[30] || got[9] != ids[39] || v.Len() != 10 {
		t.Fatalf("Grants after the commit: %v (Len %d)", got, v.Len())
	}
	if _, err := v.Get(ids[0]); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Get of a deleted fragment: %v", err)
	}
}

// A write that fails leaves the commit's deletions pending and the fragments held; the next
// commit, even an empty one, deletes them, and stops once it succeeded.
func TestOnCommitRetriesFailedWrite(t *testing.T) {
	v, _ := testVault(t)
	ids := fill(t, v, 3)
	write := v.ops.write
	v.ops.write = func(*leveldb.Batch) error { return errors.New("disk on fire") }
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids[:2]})
	if !v.Has(ids[0]) || !v.Has(ids[1]) || len(v.pending) != 2 || v.Len() != 3 {
		t.Fatalf("after a failed write: held %v %v, %d pending, Len %d", v.Has(ids[0]), v.Has(ids[1]), len(v.pending), v.Len())
	}
	v.ops.write = write
	before := countOps(v)
	v.OnCommit(ledger.CommitInfo{Height: 3})
	if got := countOps(v).since(before); got != (opCount{writes: 1, deleted: 2}) || len(v.pending) != 0 {
		t.Fatalf("retry: %+v, %d pending; want 1 write, 2 deletions, none pending", got, len(v.pending))
	}
	if v.Has(ids[0]) || v.Has(ids[1]) || !v.Has(ids[2]) || v.Len() != 1 {
		t.Fatalf("after the retry: held %v %v %v, Len %d", v.Has(ids[0]), v.Has(ids[1]), v.Has(ids[2]), v.Len())
	}
	before = countOps(v)
	v.OnCommit(ledger.CommitInfo{Height: 4})
	if got := countOps(v).since(before); got != (opCount{}) {
		t.Fatalf("a commit with nothing to do cost %+v", got)
	}
}

// A reopened vault holds, and counts, what was written before; a commit after the restart
// deletes a fragment written before it.
func TestVaultReopen(t *testing.T) {
	v, root := testVault(t)
	ids := fill(t, v, 5)
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids[:1]})
	v = reopen(t, v, root)
	if got, _ := v.Grants(); len(got) != 4 || got[0] != ids[1] || v.Len() != 4 {
		t.Fatalf("reopened vault holds %v (Len %d), want %v", got, v.Len(), ids[1:])
	}
	if _, err := v.Get(ids[1]); err != nil {
		t.Fatal(err)
	}
	v.OnCommit(ledger.CommitInfo{Height: 5, Expired: expiries(1, 1)})
	if v.Has(ids[1]) || !v.Has(ids[2]) || v.Len() != 3 {
		t.Fatal("the reopened vault did not delete the expired fragment it held")
	}
	if err := v.Put(ids[2], testKFrag(t), nil); !errors.Is(err, ErrHeld) {
		t.Fatalf("a second deposit for a held grant: %v", err)
	}
}

// A count lost or damaged behind the vault's back is counted again at open; a database of
// another format is refused.
func TestVaultRecountsDamagedBookkeeping(t *testing.T) {
	v, root := testVault(t)
	fill(t, v, 4)
	for _, damage := range []func(){
		func() { v.db.Delete(metaCount, nil) },
		func() { v.db.Put(metaCount, []byte("x"), nil) },
		func() { v.db.Delete(metaFormat, nil); v.db.Put(metaCount, u64bytes(99), nil) },
	} {
		damage()
		v = reopen(t, v, root)
		if v.Len() != 4 {
			t.Fatalf("after damage: Len %d, want 4", v.Len())
		}
	}
	v.db.Put(metaFormat, []byte("rrvault-kv9"), nil)
	v.Close()
	if _, err := OpenVault(filepath.Join(root, "vault"), filepath.Join(root, "vault_key"), nil); err == nil {
		t.Fatal("opened a database of another format")
	}
}

// raw and setRaw read and write a stored value behind the vault's back.
func raw(t *testing.T, v *Vault, g protocol.ID) []byte {
	t.Helper()
	b, err := v.db.Get(fragKey(g), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setRaw(t *testing.T, v *Vault, g protocol.ID, b []byte) {
	t.Helper()
	if err := v.db.Put(fragKey(g), b, nil); err != nil {
		t.Fatal(err)
	}
}

// The AAD binds each value to its grant: values swapped between two grants, or copied under
// a third, do not open; nor does a value under another vault key.
func TestVaultValueBoundToGrant(t *testing.T) {
	v, root := testVault(t)
	ids := fill(t, v, 2)
	a, b := raw(t, v, ids[0]), raw(t, v, ids[1])
	setRaw(t, v, ids[0], b)
	setRaw(t, v, ids[1], a)
	setRaw(t, v, grantN(77), a)
	v = reopen(t, v, root) // an empty cache: what is on disk answers
	for _, g := range []protocol.ID{ids[0], ids[1], grantN(77)} {
		if _, err := v.Get(g); !errors.Is(err, ErrVaultCorrupt) {
			t.Fatalf("a value moved to grant %v: got %v, want ErrVaultCorrupt", g, err)
		}
	}
	setRaw(t, v, ids[0], a)
	if _, err := v.Get(ids[0]); err != nil {
		t.Fatalf("the value back under its grant: %v", err)
	}
	// The same database under a fresh key opens nothing.
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := OpenVault(filepath.Join(root, "vault"), filepath.Join(t.TempDir(), "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Get(ids[0]); !errors.Is(err, ErrVaultCorrupt) {
		t.Fatalf("a value under another vault key: got %v", err)
	}
}

// A value damaged on disk is refused, never returned or panicked over.
func TestVaultRefusesCorruptValues(t *testing.T) {
	v, root := testVault(t)
	ids := fill(t, v, 1)
	good := raw(t, v, ids[0])
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	cases := map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)-1],
		"extended":       append(bytes.Clone(good), 0),
		"magic":          flip(0),
		"nonce":          flip(len(vaultMagic)),
		"ciphertext":     flip(len(vaultMagic) + 24 + 10),
		"tag":            flip(len(good) - 1),
		"magic only":     []byte(vaultMagic),
		"all zero, size": make([]byte, vaultValueSize),
	}
	for name, b := range cases {
		setRaw(t, v, ids[0], b)
		v = reopen(t, v, root)
		if _, err := v.Get(ids[0]); !errors.Is(err, ErrVaultCorrupt) {
			t.Errorf("%s: got %v, want ErrVaultCorrupt", name, err)
		}
	}
	// A fragment that decrypts but does not decode is refused too.
	nonce := make([]byte, 24)
	bad := v.aead.Seal(append([]byte(vaultMagic), nonce...), nonce, make([]byte, umbral.KeyFragSize), aad(ids[0]))
	setRaw(t, v, ids[0], bad)
	v = reopen(t, v, root)
	if _, err := v.Get(ids[0]); !errors.Is(err, ErrVaultCorrupt) {
		t.Errorf("undecodable fragment: got %v, want ErrVaultCorrupt", err)
	}
	// A corrupt value is still a held fragment: a commit deletes it.
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids})
	if v.Has(ids[0]) || v.Len() != 0 {
		t.Fatal("a corrupt value survived its grant's revocation")
	}
}

// After Close, the vault claims to hold everything (so nobody reports a destruction it did
// not see) and refuses reads; Close is idempotent.
func TestVaultClosed(t *testing.T) {
	v, _ := testVault(t)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if !v.Has(grantN(1)) {
		t.Fatal("a closed vault said it holds no fragment")
	}
	if _, err := v.Get(grantN(1)); err == nil || errors.Is(err, ErrNotHeld) {
		t.Fatalf("Get on a closed vault: %v", err)
	}
	v.OnCommit(ledger.CommitInfo{Height: 3, Revoked: grantsFrom(0, 2)}) // must not panic
}

func BenchmarkOnCommitUnheld(b *testing.B) {
	v, _ := testVault(b)
	fillFast(b, v, testKFrag(b), grantsFrom(1_000_000, 100))
	ci := ledger.CommitInfo{Height: 1, Expired: expiries(0, 100_000)}
	b.ReportAllocs()
	for b.Loop() {
		v.OnCommit(ci)
	}
}
