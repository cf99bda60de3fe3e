// Package liar puts a lying node in front of a real one, for tests: an HTTP reverse proxy on
// 127.0.0.1 that forwards to the node's API and rewrites the answers chosen by its Lies,
// signing what it makes up with the node's own proxy key — a Byzantine node, which the
// client cannot tell from an honest one by its signatures, not a broken one.
package liar

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Lie is one way of lying.
type Lie string

const (
	// RegistryOfOne answers /v1/query/nodes with this node alone.
	RegistryOfOne Lie = "registry"
	// Swallow answers POST /v1/tx with a made-up success and forwards nothing.
	Swallow Lie = "swallow"
	// Succeed turns every refusal of POST /v1/tx, and every failure in a block, into a
	// success.
	Succeed Lie = "succeed"
	// FabricateGrant adds to /v1/query/grants/recipient/<key> a 1-of-1 grant on this node
	// alone, of a made-up record, and answers /v1/query/record/<that record> with it.
	FabricateGrant Lie = "grant"
	// FakeRequest answers /v1/query/request/<hash> with a made-up audit position.
	FakeRequest Lie = "request"
	// HideReads removes the access requests from /v1/query/audit/... pages.
	HideReads Lie = "hide-reads"
	// Stale answers statuses and queries as of a height far behind.
	Stale Lie = "stale"
	// WrongBlob serves a blob with one byte changed.
	WrongBlob Lie = "wrong-blob"
	// Behind answers /v1/query/record/<id> as an honest node still a block behind the
	// record would: not_found, at the height before the record's block. Not a lie of its own;
	// it lets a test hold more than f nodes back.
	Behind Lie = "behind"
)

// All lists every lie, for help texts.
var All = []Lie{RegistryOfOne, Swallow, Succeed, FabricateGrant, FakeRequest, HideReads, Stale, WrongBlob, Behind}

// Liar is the lying proxy of one node.
type Liar struct {
	ln      net.Listener
	srv     *http.Server
	proxy   *httputil.ReverseProxy
	signer  *umbral.Signer
	key     protocol.PubKey
	chainID string

	mu   sync.Mutex
	lies map[Lie]bool
	fake protocol.Record // the made-up record of FabricateGrant

	told atomic.Int64 // answers rewritten
}

// New starts a liar in front of the node API at target (a base URL), lying with the node's
// proxy key sk on chain chainID.
func New(target string, sk *umbral.SecretKey, chainID string) (*Liar, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := umbral.NewSigner(sk)
	l := &Liar{ln: ln, proxy: httputil.NewSingleHostReverseProxy(u), signer: s,
		key: protocol.PubKeyOf(s.VerifyingKey()), chainID: chainID, lies: map[Lie]bool{}}
	l.proxy.ErrorLog = log.New(io.Discard, "", 0) // a client that gave up is no news
	l.fake = l.fakeRecord()
	l.srv = &http.Server{Handler: http.HandlerFunc(l.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// URL is the liar's base URL, to put in network.json in the node's place.
func (l *Liar) URL() string { return "http://" + l.ln.Addr().String() }

// Tell makes the liar tell these lies (and stop telling the others).
func (l *Liar) Tell(lies ...Lie) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lies = map[Lie]bool{}
	for _, x := range lies {
		l.lies[x] = true
	}
}

// Told is how many answers the liar rewrote so far (with Behind: the not_found answers it
// gave, made up or passed on).
func (l *Liar) Told() int64 { return l.told.Load() }

// Close stops the liar.
func (l *Liar) Close() error { return l.srv.Close() }

func (l *Liar) lying(x Lie) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lies[x]
}

func (l *Liar) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/tx" && l.lying(Swallow):
		raw, _ := io.ReadAll(io.LimitReader(r.Body, protocol.MaxTxBytes))
		l.answerTx(w, protocol.TxResult{Hash: protocol.TxHash(raw), Height: l.height(r) + 1})
		return
	case (path == "/v1/tx" || strings.HasPrefix(path, "/v1/tx/")) && l.lying(Succeed):
		l.rewriteTx(w, r)
		return
	case path == "/v1/status" && l.lying(Stale):
		l.rewriteStatus(w, r)
		return
	case strings.HasPrefix(path, "/v1/query/"):
		if l.rewriteQuery(w, r) {
			return
		}
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/blobs/") && !strings.HasSuffix(path, "/car") && l.lying(WrongBlob):
		rec := &recorder{header: w.Header(), status: http.StatusOK}
		l.proxy.ServeHTTP(rec, r)
		b := rec.body.Bytes()
		if (rec.status == http.StatusOK || rec.status == http.StatusPartialContent) && len(b) > 0 {
			b[len(b)/2] ^= 1
			l.told.Add(1)
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(b)
		return
	}
	l.proxy.ServeHTTP(w, r)
}

// forward sends r to the node and returns its answer in memory.
func (l *Liar) forward(r *http.Request) (int, []byte) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	l.proxy.ServeHTTP(rec, r)
	return rec.status, rec.body.Bytes()
}

func (l *Liar) answerTx(w http.ResponseWriter, res protocol.TxResult) {
	res.CodeName = protocol.CodeName(res.Code)
	if err := res.Sign(l.chainID, l.signer); err != nil {
		protocol.WriteError(w, err)
		return
	}
	l.told.Add(1)
	protocol.WriteJSON(w, http.StatusOK, res)
}

// rewriteTx turns a refusal or a failure into a success, signed.
func (l *Liar) rewriteTx(w http.ResponseWriter, r *http.Request) {
	var raw []byte
	if r.Method == http.MethodPost {
		raw, _ = io.ReadAll(io.LimitReader(r.Body, protocol.MaxTxBytes))
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	status, body := l.forward(r)
	var res protocol.TxResult
	if status == http.StatusOK && json.Unmarshal(body, &res) == nil {
		if res.Code != 0 {
			res.Code, res.Log = 0, ""
			l.answerTx(w, res)
			return
		}
		writeRaw(w, status, body)
		return
	}
	if r.Method == http.MethodPost {
		l.answerTx(w, protocol.TxResult{Hash: protocol.TxHash(raw), Height: l.height(r) + 1})
		return
	}
	writeRaw(w, status, body)
}

func (l *Liar) rewriteStatus(w http.ResponseWriter, r *http.Request) {
	status, body := l.forward(r)
	var st protocol.Status
	if status != http.StatusOK || json.Unmarshal(body, &st) != nil {
		writeRaw(w, status, body)
		return
	}
	st.Height, st.Time = max(1, st.Height/10), st.Time-int64(time.Hour)
	if err := st.Sign(l.signer); err != nil {
		protocol.WriteError(w, err)
		return
	}
	l.told.Add(1)
	protocol.WriteJSON(w, http.StatusOK, st)
}

// rewriteQuery answers a query with a lie, if one applies; it reports whether it answered.
func (l *Liar) rewriteQuery(w http.ResponseWriter, r *http.Request) bool {
	asked := strings.TrimPrefix(r.URL.EscapedPath(), "/v1/query")
	if r.URL.RawQuery != "" {
		asked += "?" + r.URL.RawQuery
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/query/"), "/"), "/")
	var edit func(json.RawMessage) (any, bool)
	switch {
	case parts[0] == "nodes" && l.lying(RegistryOfOne):
		edit = l.registryOfOne
	case len(parts) == 3 && parts[0] == "grants" && parts[1] == "recipient" && l.lying(FabricateGrant):
		edit = l.addGrant(parts[2])
	case len(parts) == 2 && parts[0] == "record" && parts[1] == l.fake.ID.String() && l.lying(FabricateGrant):
		fake := l.fake
		l.answerQuery(w, asked, protocol.QueryResult{Height: l.height(r), Value: mustJSON(&fake)})
		return true
	case len(parts) == 2 && parts[0] == "request" && l.lying(FakeRequest):
		edit = shiftIndex
	case len(parts) == 2 && parts[0] == "audit" && l.lying(HideReads):
		edit = hideReads
	case len(parts) == 2 && parts[0] == "record" && l.lying(Behind):
		l.notYet(w, r)
		return true
	case l.lying(Stale):
		edit = func(v json.RawMessage) (any, bool) { return v, true }
	default:
		return false
	}
	status, body := l.forward(r)
	var res protocol.QueryResult
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil {
		writeRaw(w, status, body)
		return true
	}
	v, ok := edit(res.Value)
	if !ok {
		writeRaw(w, status, body)
		return true
	}
	res.Value = mustJSON(v)
	if l.lying(Stale) {
		res.Height = max(1, res.Height/10)
	}
	l.answerQuery(w, asked, res)
	return true
}

// notYet refuses a record query not_found at the height before the record's block.
func (l *Liar) notYet(w http.ResponseWriter, r *http.Request) {
	status, body := l.forward(r)
	var res protocol.QueryResult
	var rec protocol.Record
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil || json.Unmarshal(res.Value, &rec) != nil {
		if status == http.StatusNotFound {
			l.told.Add(1) // truly behind: the truth is the lie
		}
		writeRaw(w, status, body)
		return
	}
	e := *protocol.ErrNotFound
	e.Height = rec.Height - 1
	l.told.Add(1)
	protocol.WriteError(w, &e)
}

func (l *Liar) answerQuery(w http.ResponseWriter, asked string, res protocol.QueryResult) {
	if err := res.Sign(l.chainID, asked, l.signer); err != nil {
		protocol.WriteError(w, err)
		return
	}
	l.told.Add(1)
	protocol.WriteJSON(w, http.StatusOK, res)
}

func (l *Liar) registryOfOne(v json.RawMessage) (any, bool) {
	var nodes []protocol.Node
	if json.Unmarshal(v, &nodes) != nil {
		return nil, false
	}
	for _, n := range nodes {
		if n.ProxyKey == l.key {
			return []protocol.Node{n}, true
		}
	}
	return nil, false
}

// addGrant adds a 1-of-1 grant on this node of the fake record to a recipient's grants.
func (l *Liar) addGrant(recipient string) func(json.RawMessage) (any, bool) {
	return func(v json.RawMessage) (any, bool) {
		var p protocol.Page[*protocol.GrantState]
		rk, err := protocol.ParseHex[protocol.PubKey](recipient)
		if json.Unmarshal(v, &p) != nil || err != nil {
			return nil, false
		}
		g := &protocol.GrantState{Record: l.fake.ID, Owner: l.fake.Owner, OwnerEnc: rk, RecipientSig: rk, RecipientEnc: rk,
			Threshold: 1, Nodes: []protocol.GrantNode{{Proxy: l.key}}, Purpose: "treatment",
			Height: l.fake.Height, Time: l.fake.Time}
		_, _ = rand.Read(g.ID[:])
		if len(p.Items) > 0 { // the recipient's receiving key, from a real grant
			g.RecipientEnc = p.Items[0].RecipientEnc
		}
		p.Items = append(p.Items, g)
		return &p, true
	}
}

// fakeRecord is a record that was never put: random id, owner and capsule of the liar's.
func (l *Liar) fakeRecord() protocol.Record {
	sk, _ := umbral.GenerateSecretKey()
	c, _, _ := umbral.Encrypt(sk.PublicKey(), []byte("file key"))
	rec := protocol.Record{Owner: protocol.PubKeyOf(sk.PublicKey()), CID: protocol.CIDText("bafkreifabricatedfabricatedfabricatedfabricatedfabricatedfab"),
		Size: 1234, DelegatingKey: protocol.PubKeyOf(sk.PublicKey()), Height: 1, Time: time.Now().UnixNano()}
	_, _ = rand.Read(rec.ID[:])
	if b, err := c.MarshalBinary(); err == nil {
		copy(rec.Capsule[:], b)
	}
	return rec
}

func shiftIndex(v json.RawMessage) (any, bool) {
	var ref protocol.RequestRef
	if json.Unmarshal(v, &ref) != nil {
		return nil, false
	}
	ref.Index++
	return &ref, true
}

func hideReads(v json.RawMessage) (any, bool) {
	var p protocol.Page[protocol.AuditEntry]
	if json.Unmarshal(v, &p) != nil {
		return nil, false
	}
	kept := p.Items[:0]
	for _, e := range p.Items {
		if e.Kind != protocol.AuditRequest {
			kept = append(kept, e)
		}
	}
	p.Items = kept
	return &p, true
}

// height is the node's latest committed height, as its status says.
func (l *Liar) height(r *http.Request) int64 {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/status", nil)
	if err != nil {
		return 1
	}
	status, body := l.forward(req)
	var st protocol.Status
	if status != http.StatusOK || json.Unmarshal(body, &st) != nil {
		return 1
	}
	return st.Height
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("liar: %v", err))
	}
	return b
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// recorder keeps an answer in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }
