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
		p := filepath.Join(nd.dir, "vault", g.id.String())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		kf := g.frags.KeyFrag(i)
		// Neither the fragment nor any 16-byte piece of it is stored in clear.
		for off := 0; off+16 <= len(kf); off += 16 {
			if bytes.Contains(b, kf[off:off+16]) {
				t.Fatalf("node %d: vault file contains fragment bytes at %d", i, off)
			}
		}
		for _, f := range []string{p, filepath.Join(nd.dir, "vault_key")} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v, want 0600", f, fi.Mode().Perm())
			}
		}
		// Renamed to another grant, the file does not open (AAD binds it). The running vault
		// ignores a file put there behind its back; a reopened one lists it, and refuses it.
		other := protocol.ID{1}
		if err := os.WriteFile(filepath.Join(nd.dir, "vault", other.String()), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := nd.vault.Get(other); !errors.Is(err, proxy.ErrNotHeld) {
			t.Fatalf("file planted in a running vault: got %v", err)
		}
		reopened, err := proxy.OpenVault(filepath.Join(nd.dir, "vault"), filepath.Join(nd.dir, "vault_key"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reopened.Get(other); !errors.Is(err, proxy.ErrVaultCorrupt) {
			t.Fatalf("renamed vault file: got %v", err)
		}
	}
	// A reopened vault (fresh cache) still reads the fragment.
	v, err := proxy.OpenVault(filepath.Join(c.nodes[0].dir, "vault"), filepath.Join(c.nodes[0].dir, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := v.Get(g.id)
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

func TestReconcileAtStart(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	revoked := c.grantTo(owner, rec, doctor, nil, time.Time{})
	expired := c.grantTo(owner, rec, doctor, nil, c.clock.Now().Add(2*time.Second))
	live := c.grantTo(owner, rec, doctor, nil, time.Time{})
	for _, g := range []*grant{revoked, expired, live} {
		c.deposit(g)
	}
	nd := c.nodes[0]
	// The node misses the deletions: its hook is detached (as if it crashed
	// between committing and deleting).
	nd.hookOn.Store(false)
	c.commit(owner.tx(t, &protocol.Revoke{Grant: revoked.id}))
	c.clock.Add(3 * time.Second)
	c.block()
	// And a fragment for a grant the ledger never saw.
	kf, err := nd.vault.Get(live.id)
	if err != nil {
		t.Fatal(err)
	}
	unknown := protocol.ID{7}
	if err := nd.vault.Put(unknown, kf, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []protocol.ID{revoked.id, expired.id, live.id, unknown} {
		if !nd.vault.Has(id) {
			t.Fatal("setup: fragment missing")
		}
	}
	// Restart the vault and reconcile, as a node does at start.
	v, err := proxy.OpenVault(filepath.Join(nd.dir, "vault"), filepath.Join(nd.dir, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := proxy.ReconcileVault(v, nd.app)
	if err != nil || n != 3 {
		t.Fatalf("reconcile deleted %d (%v), want 3", n, err)
	}
	ids, _ := v.Grants()
	if len(ids) != 1 || ids[0] != live.id {
		t.Fatalf("vault holds %v after reconcile, want only the live grant", ids)
	}
}

func TestOpenVaultRefusesLooseKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "vault_key")
	if _, err := proxy.OpenVault(filepath.Join(dir, "v"), key, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.OpenVault(filepath.Join(dir, "v"), key, nil); err == nil {
		t.Fatal("opened a vault whose key file others can read")
	}
}
