package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// apiCall sends one request to a node's API and decodes the JSON answer.
func apiCall(t *testing.T, method, url string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q, body %s", method, url, ct, b)
	}
	if e, ok := out.(*apiErr); ok {
		*e = apiErr{} // json.Unmarshal keeps fields an answer omits
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

type apiErr struct {
	Error protocol.Error `json:"error"`
}

func wantRefusal(t *testing.T, what string, status int, got apiErr, wantStatus int, code string, ledgerCode uint32) {
	t.Helper()
	if status != wantStatus || got.Error.Code != code || got.Error.LedgerCode != ledgerCode {
		t.Fatalf("%s: HTTP %d %+v, want %d %s (ledger code %d)", what, status, got.Error, wantStatus, code, ledgerCode)
	}
}

func TestLedgerAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{Validators: 4, ChainID: "rr-api"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	base := func(i int) string { return "http://" + nw.Node(i).Settings().APIAddr }

	t.Run("status", func(t *testing.T) {
		var st protocol.Status
		if s := apiCall(t, "GET", base(2)+"/v1/status", nil, &st); s != 200 {
			t.Fatalf("HTTP %d", s)
		}
		if st.ChainID != "rr-api" || st.Node != "node2" || st.ProxyKey != nw.Node(2).Proxy().NodeKey() || st.Height < 1 || st.Time <= 0 {
			t.Fatalf("status %+v", st)
		}
	})

	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	me := protocol.PubKeyOf(id.Public().Signing)
	dk, err := id.DelegatingKey([]byte("label"))
	if err != nil {
		t.Fatal(err)
	}
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := capsule.MarshalBinary()
	sign := func(seq uint64) []byte {
		b := &protocol.PutRecord{CID: []byte("bafy-api-test"), Size: 10, DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
		copy(b.Capsule[:], cb)
		tx := &protocol.Tx{ChainID: "rr-api", Sequence: seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: b}
		if err := tx.Sign(id.Signer()); err != nil {
			t.Fatal(err)
		}
		return tx.Encode()
	}

	raw := sign(0)
	var res protocol.TxResult
	if s := apiCall(t, "POST", base(0)+"/v1/tx", raw, &res); s != 200 || res.Code != 0 || res.CodeName != "ok" || res.Height < 1 || res.Hash != protocol.TxHash(raw) {
		t.Fatalf("submit: HTTP %d %+v", s, res)
	}
	t.Run("tx lookup", func(t *testing.T) {
		if err := nw.WaitHeight(ctx, res.Height); err != nil {
			t.Fatal(err)
		}
		// Another node says the same, signed with its own key (once it has the block: wait).
		var got protocol.TxResult
		s := apiCall(t, "GET", base(3)+"/v1/tx/"+hex.EncodeToString(res.Hash[:])+"?wait=10s", nil, &got)
		if s != 200 || got.Hash != res.Hash || got.Height != res.Height || got.Code != res.Code ||
			got.Node != nw.Node(3).Proxy().NodeKey() || !got.Verify(nw.ChainID()) {
			t.Fatalf("HTTP %d %+v, want %+v signed by node 3", s, got, res)
		}
		if res.Node != nw.Node(0).Proxy().NodeKey() || !res.Verify(nw.ChainID()) {
			t.Fatalf("the submission's answer is not node 0's signed result: %+v", res)
		}
		var e apiErr
		s = apiCall(t, "GET", base(3)+"/v1/tx/"+strings.Repeat("00", 32), nil, &e)
		wantRefusal(t, "unknown hash", s, e, 404, "not_found", protocol.ErrNotFound.LedgerCode)
		s = apiCall(t, "GET", base(3)+"/v1/tx/xyz", nil, &e)
		wantRefusal(t, "bad hash", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
	})

	t.Run("refusals", func(t *testing.T) {
		var e apiErr
		s := apiCall(t, "POST", base(1)+"/v1/tx", sign(0), &e) // sequence 0 is used
		wantRefusal(t, "replayed sequence", s, e, 409, "bad_sequence", protocol.ErrBadSequence.LedgerCode)
		if e.Error.Hash == nil || e.Error.Message == "" {
			t.Fatalf("refusal without hash or message: %+v", e.Error)
		}
		s = apiCall(t, "POST", base(1)+"/v1/tx", []byte("not a transaction"), &e)
		wantRefusal(t, "garbage", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
		s = apiCall(t, "POST", base(1)+"/v1/tx", nil, &e)
		wantRefusal(t, "empty", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
		s = apiCall(t, "POST", base(1)+"/v1/tx", make([]byte, protocol.MaxTxBytes+1), &e)
		wantRefusal(t, "too large", s, e, 413, "too_large", protocol.ErrTooLarge.LedgerCode)
	})

	t.Run("queries", func(t *testing.T) {
		rid := protocol.RecordID("rr-api", me, 0)
		var q protocol.QueryResult
		if s := apiCall(t, "GET", base(1)+"/v1/query/record/"+rid.String(), nil, &q); s != 200 || q.Height < res.Height {
			t.Fatalf("record: HTTP %d %+v", s, q)
		}
		var rec protocol.Record
		if err := json.Unmarshal(q.Value, &rec); err != nil || rec.ID != rid || rec.Owner != me {
			t.Fatalf("record %+v: %v", rec, err)
		}
		if s := apiCall(t, "GET", base(1)+"/v1/query/records/owner/"+me.String()+"?start=0&limit=1", nil, &q); s != 200 {
			t.Fatalf("records page: HTTP %d", s)
		}
		var p protocol.Page[protocol.Record]
		if err := json.Unmarshal(q.Value, &p); err != nil || len(p.Items) != 1 || p.Next != -1 {
			t.Fatalf("page %+v: %v", p, err)
		}

		var e apiErr
		s := apiCall(t, "GET", base(1)+"/v1/query/record/"+strings.Repeat("ab", 32), nil, &e)
		wantRefusal(t, "unknown record", s, e, 404, "not_found", protocol.ErrNotFound.LedgerCode)
		s = apiCall(t, "GET", base(1)+"/v1/query/record/xyz", nil, &e)
		wantRefusal(t, "bad record id", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
		s = apiCall(t, "GET", base(1)+"/v1/query/secrets", nil, &e)
		wantRefusal(t, "unknown path", s, e, 404, "unknown_query", protocol.ErrUnknownQuery.LedgerCode)
		s = apiCall(t, "GET", base(1)+"/v1/query/records/owner/"+me.String()+"?evil=1", nil, &e)
		wantRefusal(t, "unknown parameter", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
		s = apiCall(t, "GET", base(1)+"/v1/query/records/owner/"+me.String()+"?limit=abc", nil, &e)
		wantRefusal(t, "limit not a number", s, e, 400, "malformed", protocol.ErrMalformed.LedgerCode)
		s = apiCall(t, "GET", base(1)+"/v1/query/record/"+strings.Repeat("a", protocol.MaxQueryPath), nil, &e)
		wantRefusal(t, "long path", s, e, 414, "too_large", protocol.ErrTooLarge.LedgerCode)
	})

	// Without a quorum nothing commits: the node answers commit_timeout
	// with the hash, and the transaction commits once a quorum is back.
	t.Run("commit timeout", func(t *testing.T) {
		for _, i := range []int{2, 3} {
			if err := nw.StopNode(i); err != nil {
				t.Fatal(err)
			}
		}
		raw := sign(1)
		var e apiErr
		s := apiCall(t, "POST", base(0)+"/v1/tx", raw, &e)
		wantRefusal(t, "no quorum", s, e, 504, "commit_timeout", 0)
		if e.Error.Hash == nil || *e.Error.Hash != protocol.TxHash(raw) {
			t.Fatalf("timeout names hash %v", e.Error.Hash)
		}
		if err := nw.RestartNode(2); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute) // a restarted node waits on its peers' redial
		for {
			var got protocol.TxResult
			if apiCall(t, "GET", base(0)+"/v1/tx/"+hex.EncodeToString(e.Error.Hash[:]), nil, &got) == 200 {
				if got.Code != 0 || got.Height < 1 {
					t.Fatalf("committed with %+v", got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("transaction did not commit after the quorum came back")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
