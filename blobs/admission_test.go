package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/ledger/ledgertest"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// TestUploadNeedsAdmissionAndRoom: on a network with admission rules an account nobody
// admitted may not upload, and an admitted one only what its allowance leaves, uploads
// waiting for their record included.
func TestUploadNeedsAdmissionAndRoom(t *testing.T) {
	const chain = "rr-blobs-adm"
	sk, _ := umbral.GenerateSecretKey()
	nodeKey := protocol.PubKeyOf(sk.PublicKey())
	rules := protocol.DefaultAdmission
	rules.Self.Bytes = 1000
	t0 := time.Now()
	app, err := ledgertest.New(chain, ledger.GenesisState{Nodes: []protocol.Node{{Name: "solo", API: "http://127.0.0.1:1", ProxyKey: nodeKey}},
		Admission: &rules}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(filepath.Join(t.TempDir(), "store"), &local.Options{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(Config{Store: st, Ledger: app, Signer: umbral.NewSigner(sk), Dir: t.TempDir(), MaxUpload: 8 << 20,
		Report: func(context.Context, protocol.Body) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)

	alice := newSigner(t)
	upload := func(n int) (int, string) {
		data := make([]byte, n)
		rand.Read(data)
		resp, err := http.DefaultClient.Do(signedUpload(t, srv.URL, chain, alice, nodeKey, bytes.NewReader(data), int64(n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error protocol.Error `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code
	}
	if code, name := upload(100); code != http.StatusForbidden || name != "not_admitted" {
		t.Fatalf("an upload by an account nobody admitted: %d %s", code, name)
	}
	admit, err := protocol.Sealed(umbral.NewSigner(sk), chain, 0, t0.Add(time.Minute),
		&protocol.Admit{Tier: protocol.TierSelf, Accounts: []protocol.PubKey{protocol.PubKeyOf(alice.VerifyingKey())}})
	if err != nil {
		t.Fatal(err)
	}
	if x, err := app.Block(t0.Add(time.Second), admit); err != nil || x.Results[0].Code != 0 {
		t.Fatalf("admit: %v %+v", err, x)
	}
	if code, name := upload(800); code != http.StatusCreated {
		t.Fatalf("an upload within the allowance: %d %s", code, name)
	}
	if code, name := upload(300); code != http.StatusTooManyRequests || name != "quota" {
		t.Fatalf("an upload past the allowance, counting the one waiting for its record: %d %s", code, name)
	}
}
