package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/proxy"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func TestAccessEndToEnd(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	g := c.grantTo(owner, rec, doctor, nil, time.Time{})
	for i, r := range c.deposit(g) {
		if r.Err != nil || r.Receipt == nil || r.Receipt.Node != c.nodes[i].key {
			t.Fatalf("node %d: %+v", i, r)
		}
	}
	a := c.request(doctor, g)
	got, err := c.testClient().Gather(context.Background(), a, doctor.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CFrags) != 3 || len(got.Receipts) != 3 {
		t.Fatalf("got %d cfrags, want 3", len(got.CFrags))
	}
	key, err := umbral.DecryptReencrypted(doctor.id.ReceivingKey(), rec.delegating.PublicKey(), rec.capsule, got.CFrags, rec.ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, rec.fileKey) {
		t.Fatal("file key differs")
	}
	// Two fragments are not enough: the threshold is real.
	if _, err := umbral.DecryptReencrypted(doctor.id.ReceivingKey(), rec.delegating.PublicKey(), rec.capsule, got.CFrags[:2], rec.ciphertext); err == nil {
		t.Fatal("two of three cfrags opened the capsule")
	}
}

func TestVaultAtRest(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	g := c.grantTo(owner, rec, doctor, nil, time.Time{})
	c.deposit(g)
	for i, nd := range c.nodes {
		dir := filepath.Join(nd.dir, "vault")
		kf := g.frags.KeyFrag(i)
		// Neither the fragment nor any 16-byte piece of it is in any file of the vault: the
		// database's journal and tables hold its ciphertext only.
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off+16 <= len(kf); off += 16 {
				if bytes.Contains(b, kf[off:off+16]) {
					t.Fatalf("node %d: vault file %s contains fragment bytes at %d", i, f.Name(), off)
				}
			}
		}
		for f, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(nd.dir, "vault_key"): 0o600} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Fatalf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
			}
		}
	}
	// A reopened vault (fresh cache) still reads the fragment.
	nd := c.nodes[0]
	if err := nd.vault.Close(); err != nil {
		t.Fatal(err)
	}
	c.open(nd, nil)
	kf, err := nd.vault.Get(g.id)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := kf.MarshalBinary(); !bytes.Equal(b, g.frags.KeyFrag(0)) {
		t.Fatal("reopened vault returned another fragment")
	}
}

// post sends body to node i's path and returns the status and error code.
func post(t *testing.T, nd *testNode, path string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(nd.srv.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = jsonDecode(resp.Body, &eb)
	return resp.StatusCode, eb.Error.Code
}

func depositOne(t *testing.T, c *chain, node int, grant protocol.ID, kfrag []byte) error {
	t.Helper()
	d, err := protocol.SealDeposit(chainID, grant, c.nodes[node].key, kfrag)
	if err != nil {
		t.Fatal(err)
	}
	return postDeposit(t, c.nodes[node], grant, d)
}

func postDeposit(t *testing.T, nd *testNode, grant protocol.ID, d *protocol.Deposit) error {
	t.Helper()
	status, code := post(t, nd, "/v1/grants/"+grant.String()+"/fragment", mustJSON(t, d))
	if status == http.StatusCreated {
		return nil
	}
	return &protocol.Error{Status: status, Code: code}
}

func wantRefusal(t *testing.T, err error, want *protocol.Error) {
	t.Helper()
	var e *protocol.Error
	if !errors.As(err, &e) || e.Code != want.Code || e.Status != want.Status {
		t.Fatalf("got %v, want %d %s", err, want.Status, want.Code)
	}
}

func TestDepositRefusals(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	g := c.grantTo(owner, rec, doctor, nil, time.Time{})

	t.Run("unknown grant", func(t *testing.T) {
		wantRefusal(t, depositOne(t, c, 0, protocol.ID{9}, g.frags.KeyFrag(0)), protocol.ErrNotFound)
	})
	t.Run("wrong commitment", func(t *testing.T) {
		wantRefusal(t, depositOne(t, c, 0, g.id, g.frags.KeyFrag(1)), protocol.ErrWrongCommitment)
	})
	t.Run("sealed for another grant", func(t *testing.T) {
		d, _ := protocol.SealDeposit(chainID, protocol.ID{9}, c.nodes[0].key, g.frags.KeyFrag(0))
		wantRefusal(t, postDeposit(t, c.nodes[0], g.id, d), protocol.ErrWrongBinding)
	})
	t.Run("sealed for another node", func(t *testing.T) {
		d, _ := protocol.SealDeposit(chainID, g.id, c.nodes[1].key, g.frags.KeyFrag(0))
		wantRefusal(t, postDeposit(t, c.nodes[0], g.id, d), protocol.ErrBadEnvelope)
	})
	t.Run("sealed for another chain", func(t *testing.T) {
		d, _ := protocol.SealDeposit("other-chain", g.id, c.nodes[0].key, g.frags.KeyFrag(0))
		wantRefusal(t, postDeposit(t, c.nodes[0], g.id, d), protocol.ErrWrongBinding)
	})
	t.Run("tampered ciphertext", func(t *testing.T) {
		d, _ := protocol.SealDeposit(chainID, g.id, c.nodes[0].key, g.frags.KeyFrag(0))
		d.Ciphertext[len(d.Ciphertext)-1] ^= 1
		wantRefusal(t, postDeposit(t, c.nodes[0], g.id, d), protocol.ErrBadEnvelope)
	})
	t.Run("invalid kfrag", func(t *testing.T) {
		// Fragments for another receiving key, committed honestly: the hash
		// matches but the fragment does not verify for the grant's recipient.
		other := newUser(t)
		f, err := client.MakeFragments(rec.delegating, owner.id.Signer(), other.id.Public().Receiving, c.keys(), 0)
		if err != nil {
			t.Fatal(err)
		}
		gid := protocol.GrantID(chainID, owner.pk, owner.seq)
		c.commit(owner.tx(t, &protocol.Grant{Record: rec.id, OwnerEnc: doctor.pk, RecipientSig: doctor.pk,
			RecipientEnc: protocol.PubKeyOf(doctor.id.Public().Receiving), Nodes: f.Nodes}))
		wantRefusal(t, depositOne(t, c, 0, gid, f.KeyFrag(0)), protocol.ErrInvalidKFrag)
	})
	t.Run("not a grant node", func(t *testing.T) {
		three := c.grantThreshold(owner, rec, doctor, c.keys()[:3], 2, time.Time{})
		wantRefusal(t, depositOne(t, c, 3, three.id, three.frags.KeyFrag(0)), protocol.ErrNotGrantNode)
	})
	t.Run("duplicate", func(t *testing.T) {
		if err := depositOne(t, c, 0, g.id, g.frags.KeyFrag(0)); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, depositOne(t, c, 0, g.id, g.frags.KeyFrag(0)), protocol.ErrAlreadyExists)
	})
	t.Run("reported holding none", func(t *testing.T) {
		// Node 1 told the ledger it holds no fragment of a live grant (it came back with an
		// empty vault): it takes none afterwards, so what owner and recipient see stays true.
		l := c.grantTo(owner, rec, doctor, nil, time.Time{})
		raw, err := protocol.Sealed(umbral.NewSigner(c.nodes[1].sk), chainID, 0, time.Now().Add(time.Minute), &protocol.FragmentDestroyed{Grant: l.id})
		if err != nil {
			t.Fatal(err)
		}
		c.commit(raw)
		wantRefusal(t, depositOne(t, c, 1, l.id, l.frags.KeyFrag(1)), protocol.ErrInvalid)
		if err := depositOne(t, c, 0, l.id, l.frags.KeyFrag(0)); err != nil {
			t.Fatalf("another node of the grant: %v", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		r := c.grantTo(owner, rec, doctor, nil, time.Time{})
		c.commit(owner.tx(t, &protocol.Revoke{Grant: r.id}))
		wantRefusal(t, depositOne(t, c, 0, r.id, r.frags.KeyFrag(0)), protocol.ErrGrantRevoked)
	})
	t.Run("expired", func(t *testing.T) {
		e := c.grantTo(owner, rec, doctor, nil, c.clock.Now().Add(2*time.Second))
		c.clock.Add(3 * time.Second)
		c.block()
		wantRefusal(t, depositOne(t, c, 0, e.id, e.frags.KeyFrag(0)), protocol.ErrGrantExpired)
	})
	t.Run("malformed", func(t *testing.T) {
		path := "/v1/grants/" + g.id.String() + "/fragment"
		for _, body := range []string{``, `{`, `[]`, `{"capsule":"00"}`, `{"capsule":"zz","ciphertext":""}`,
			`{"capsule":"` + strings.Repeat("00", 105) + `","ciphertext":"00","extra":1}`,
			`{"capsule":"` + strings.Repeat("00", 105) + `","ciphertext":"00"} {}`} {
			if status, code := post(t, c.nodes[0], path, []byte(body)); status != 400 || code != "malformed" {
				t.Errorf("%q: %d %s", body, status, code)
			}
		}
		if status, code := post(t, c.nodes[0], "/v1/grants/xyz/fragment", []byte(`{}`)); status != 400 || code != "malformed" {
			t.Errorf("bad grant id: %d %s", status, code)
		}
		d, _ := protocol.SealDeposit(chainID, g.id, c.nodes[0].key, g.frags.KeyFrag(0))
		d.Ciphertext = make([]byte, protocol.MaxDepositCiphertext+1)
		wantRefusal(t, postDeposit(t, c.nodes[0], g.id, d), protocol.ErrMalformed)
		big := append([]byte(`{"capsule":"`), bytes.Repeat([]byte("0"), protocol.MaxDepositBody)...)
		if status, code := post(t, c.nodes[0], path, big); status != 413 || code != "too_large" {
			t.Errorf("oversize: %d %s", status, code)
		}
	})
	// Nothing refused left a file behind.
	ids, err := c.nodes[0].vault.Grants()
	if err != nil || len(ids) != 2 || !slices.Contains(ids, g.id) {
		t.Fatalf("vault holds %v (%v), want only the accepted deposit", ids, err)
	}
}

func TestDeleteOnRevokeCommit(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	g := c.grantTo(owner, rec, doctor, nil, time.Time{})
	keep := c.grantTo(owner, rec, doctor, nil, time.Time{})
	c.deposit(g)
	c.deposit(keep)
	a := c.request(doctor, g)
	c.commit(owner.tx(t, &protocol.Revoke{Grant: g.id}))
	for i, nd := range c.nodes {
		if nd.vault.Has(g.id) {
			t.Fatalf("node %d still holds the revoked fragment", i)
		}
		if !nd.vault.Has(keep.id) {
			t.Fatalf("node %d lost another grant's fragment", i)
		}
	}
	_, err := c.testClient().Gather(context.Background(), a, doctor.id.Signer(), c.clientNodes())
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Count(client.Refused) != 4 || ge.Verified != 0 {
		t.Fatalf("got %v, want every node to refuse", err)
	}
	for _, r := range ge.Nodes {
		if !errors.Is(r.Err, protocol.ErrGrantRevoked) {
			t.Fatalf("node refused with %v, want grant_revoked", r.Err)
		}
	}
}

func TestDeleteOnExpiryCommit(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	g := c.grantTo(owner, rec, doctor, nil, c.clock.Now().Add(5*time.Second))
	c.deposit(g)
	a := c.request(doctor, g)
	c.clock.Add(4 * time.Second)
	c.block()
	for i, nd := range c.nodes {
		if !nd.vault.Has(g.id) {
			t.Fatalf("node %d deleted a fragment before expiry", i)
		}
	}
	c.clock.Add(2 * time.Second)
	c.block() // the first block past not-after expires the grant
	for i, nd := range c.nodes {
		if nd.vault.Has(g.id) {
			t.Fatalf("node %d still holds the expired fragment", i)
		}
	}
	_, err := c.testClient().Gather(context.Background(), a, doctor.id.Signer(), c.clientNodes())
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Count(client.Refused) != 4 {
		t.Fatalf("got %v, want every node to refuse", err)
	}
	if !errors.Is(ge.Nodes[0].Err, protocol.ErrGrantExpired) {
		t.Fatalf("refused with %v, want grant_expired", ge.Nodes[0].Err)
	}
}

// missedDeletions deposits three grants on every node, then, with node 0's commit hook
// detached (as if it crashed between committing and deleting), revokes one and lets another
// expire, and puts into node 0's vault a fragment for a grant the ledger never saw.
func missedDeletions(t *testing.T) (c *chain, revoked, expired, live *grant, unknown protocol.ID) {
	c = newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	revoked = c.grantTo(owner, rec, doctor, nil, time.Time{})
	expired = c.grantTo(owner, rec, doctor, nil, c.clock.Now().Add(2*time.Second))
	live = c.grantTo(owner, rec, doctor, nil, time.Time{})
	for _, g := range []*grant{revoked, expired, live} {
		c.deposit(g)
	}
	nd := c.nodes[0]
	nd.hookOn.Store(false)
	c.commit(owner.tx(t, &protocol.Revoke{Grant: revoked.id}))
	c.clock.Add(3 * time.Second)
	c.block()
	kf, err := nd.vault.Get(live.id)
	if err != nil {
		t.Fatal(err)
	}
	unknown = protocol.ID{7}
	if err := nd.vault.Put(unknown, kf, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []protocol.ID{revoked.id, expired.id, live.id, unknown} {
		if !nd.vault.Has(id) {
			t.Fatal("setup: fragment missing")
		}
	}
	if err := nd.vault.Close(); err != nil {
		t.Fatal(err)
	}
	return c, revoked, expired, live, unknown
}

// At start, before it returns, Reconcile deletes the fragments of the grants the node owes
// a report for (the ended ones its hook missed); its background sweep then deletes the
// fragment of the grant the ledger does not know.
func TestReconcileAtStart(t *testing.T) {
	c, revoked, expired, live, unknown := missedDeletions(t)
	nd := c.nodes[0]
	c.open(nd, nil) // restart the vault and the service, as a node does
	n, err := nd.svc.Reconcile()
	if err != nil || n != 2 {
		t.Fatalf("reconcile deleted %d (%v), want 2", n, err)
	}
	if nd.vault.Has(revoked.id) || nd.vault.Has(expired.id) || !nd.vault.Has(live.id) {
		t.Fatalf("after reconcile: revoked %v, expired %v, live %v held", nd.vault.Has(revoked.id), nd.vault.Has(expired.id), nd.vault.Has(live.id))
	}
	for deadline := time.Now().Add(20 * time.Second); nd.vault.Has(unknown); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not delete the fragment of an unknown grant")
		}
	}
	if ids, _ := nd.vault.Grants(); len(ids) != 1 || ids[0] != live.id || nd.vault.Len() != 1 {
		t.Fatalf("vault holds %v (Len %d) after the sweep, want only the live grant", ids, nd.vault.Len())
	}
}

// ReconcileVault sweeps the whole vault before it returns.
func TestReconcileVault(t *testing.T) {
	c, _, _, live, _ := missedDeletions(t)
	nd := c.nodes[0]
	v, err := proxy.OpenVault(filepath.Join(nd.dir, "vault"), filepath.Join(nd.dir, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	n, err := proxy.ReconcileVault(v, nd.app)
	if err != nil || n != 3 {
		t.Fatalf("reconcile deleted %d (%v), want 3", n, err)
	}
	ids, _ := v.Grants()
	if len(ids) != 1 || ids[0] != live.id || v.Len() != 1 {
		t.Fatalf("vault holds %v (Len %d) after reconcile, want only the live grant", ids, v.Len())
	}
}

func TestOpenVaultRefusesLooseKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "vault_key")
	v, err := proxy.OpenVault(filepath.Join(dir, "v"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.OpenVault(filepath.Join(dir, "v"), key, nil); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("opened a vault whose key file others can read: %v", err)
	}
}
