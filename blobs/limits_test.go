package blobs

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// forwarded trusts X-Forwarded-For from the loopback proxy, so that one test client can
// speak for several sources.
func forwarded(c *Config) {
	c.Sources = &source.Resolver{Header: "X-Forwarded-For", Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

func newSigner(t *testing.T) *umbral.Signer {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	return umbral.NewSigner(sk)
}

// held is an upload whose body the test feeds.
type held struct {
	body *io.PipeWriter
	done chan int // the answer's status, or 0 if the request failed
}

// hold starts an upload of size bytes from source from (empty: no header) and leaves it
// waiting for its body.
func (s *single) hold(t *testing.T, signer *umbral.Signer, size int64, from string) *held {
	pr, pw := io.Pipe()
	req := signedUpload(t, s.url, s.chain, signer, s.node, pr, size)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	h := &held{body: pw, done: make(chan int, 1)}
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.done <- 0
			return
		}
		resp.Body.Close()
		h.done <- resp.StatusCode
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	return h
}

func (h *held) abort() int {
	h.body.CloseWithError(errors.New("client gave up"))
	return <-h.done
}

func (h *held) finish(t *testing.T, data []byte) int {
	if _, err := h.body.Write(data); err != nil {
		t.Fatal(err)
	}
	h.body.Close()
	return <-h.done
}

// answer is a response's status, error code and the headers the tests look at.
type answer struct {
	status     int
	code       string
	cache      string
	retryAfter string
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error protocol.Error }
	if resp.StatusCode >= 400 {
		json.NewDecoder(resp.Body).Decode(&e)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return answer{resp.StatusCode, e.Error.Code, resp.Header.Get("Cache-Control"), resp.Header.Get("Retry-After")}
}

func get(t *testing.T, url, from string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	return do(t, req)
}

func (s *single) inFlight() int64 {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	return s.svc.inFlight
}

// A client that keeps a transfer alive with a byte now and then, never a pause as long as
// the idle timeout, is cut all the same: it must move MinRate bytes per IdleTimeout.
func TestTrickleIsCut(t *testing.T) {
	s := newSingle(t, 10*time.Second, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	const size = 1 << 20
	req := signedUpload(t, s.url, s.chain, newSigner(t), s.node, nil, size)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /v1/blobs HTTP/1.1\r\nHost: blobs\r\nContent-Length: %d\r\n", size)
	for k, v := range req.Header {
		head += k + ": " + v[0] + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{0x42}); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the node kept a trickling upload for a minute")
	}
	eventually(t, "the transfer's place and budget are given back", func() bool {
		return s.svc.gate.InUse() == 0 && s.inFlight() == 0
	})
}

// Transfers beyond a source's bound are refused 429 while another source gets through;
// beyond the node's bound, 503.
func TestTransfersCapped(t *testing.T) {
	s := newSingle(t, 10*time.Second, func(c *Config) {
		c.MaxSourceTransfers, c.MaxTransfers = 2, 3
		forwarded(c)
	})
	signer := newSigner(t)
	first := []*held{s.hold(t, signer, 1<<20, "192.0.2.1"), s.hold(t, signer, 1<<20, "192.0.2.1")}
	eventually(t, "two uploads in progress", func() bool { return s.svc.gate.InUse() == 2 })
	blob := s.url + "/v1/blobs/" + junkCID().String()
	if a := get(t, blob, "192.0.2.1"); a.status != 429 || a.code != "rate_limited" || a.retryAfter == "" || a.cache != "no-store" {
		t.Fatalf("third transfer from one source: %+v", a)
	}
	if a := get(t, blob, "192.0.2.2"); a.status != 404 {
		t.Fatalf("another source: %+v", a)
	}
	other := s.hold(t, signer, 1<<20, "192.0.2.2")
	eventually(t, "three uploads in progress", func() bool { return s.svc.gate.InUse() == 3 })
	if a := get(t, blob+"/car", "192.0.2.3"); a.status != 503 || a.code != "busy" || a.retryAfter == "" || a.cache != "no-store" {
		t.Fatalf("transfer past the node's bound: %+v", a)
	}
	for _, h := range append(first, other) {
		h.abort()
	}
	eventually(t, "places given back", func() bool { return s.svc.gate.InUse() == 0 })
	if a := get(t, blob, "192.0.2.1"); a.status != 404 {
		t.Fatalf("after the uploads ended: %+v", a)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// An account's budget counts uploads in progress: parallel uploads whose signed sizes add
// up past MaxPending are refused while the first are still coming in.
func TestUploadBudgetCountsInFlight(t *testing.T) {
	s := newSingle(t, 10*time.Second, nil) // MaxPending: 2 × 8 MiB
	const size = 7 << 20
	signer := newSigner(t)
	post := func() answer {
		return do(t, signedUpload(t, s.url, s.chain, signer, s.node, bytes.NewReader(randomBytes(size)), size))
	}
	u1, u2 := s.hold(t, signer, size, ""), s.hold(t, signer, size, "")
	eventually(t, "two uploads reserved", func() bool { return s.inFlight() == 2*size })
	if a := post(); a.status != 429 || a.code != "quota" {
		t.Fatalf("third upload while two are in flight: %+v", a)
	}
	if st := u1.abort(); st == http.StatusCreated {
		t.Fatal("aborted upload stored")
	}
	eventually(t, "the aborted upload's reservation given back", func() bool { return s.inFlight() == size })
	if a := post(); a.status != 201 {
		t.Fatalf("upload after one in flight failed: %+v", a)
	}
	if st := u2.finish(t, randomBytes(size)); st != 201 {
		t.Fatalf("held upload: HTTP %d", st)
	}
	if a := post(); a.status != 429 || a.code != "quota" {
		t.Fatalf("upload past two finished ones: %+v", a)
	}
	if s.inFlight() != 0 {
		t.Fatalf("%d bytes still reserved", s.inFlight())
	}
}

// Uploads in progress are bounded in bytes per source (429) and in total (503) as well.
func TestUploadBytesBoundedPerSourceAndTotal(t *testing.T) {
	s := newSingle(t, 10*time.Second, func(c *Config) {
		c.MaxSourceInFlight, c.MaxInFlight = 10<<20, 12<<20
		forwarded(c)
	})
	post := func(size int64, from string) answer {
		req := signedUpload(t, s.url, s.chain, newSigner(t), s.node, bytes.NewReader(randomBytes(int(size))), size)
		req.Header.Set("X-Forwarded-For", from)
		return do(t, req)
	}
	h := s.hold(t, newSigner(t), 7<<20, "192.0.2.1")
	eventually(t, "upload reserved", func() bool { return s.inFlight() == 7<<20 })
	if a := post(4<<20, "192.0.2.1"); a.status != 429 || a.code != "rate_limited" || a.retryAfter == "" {
		t.Fatalf("second account, same source: %+v", a)
	}
	if a := post(6<<20, "192.0.2.2"); a.status != 503 || a.code != "busy" || a.retryAfter == "" {
		t.Fatalf("past the node's bound: %+v", a)
	}
	if a := post(4<<20, "192.0.2.2"); a.status != 201 {
		t.Fatalf("within every bound: %+v", a)
	}
	h.abort()
}

// Every blob answer, success or refusal, tells caches not to keep it.
func TestNoStoreOnEveryAnswer(t *testing.T) {
	s := newSingle(t, 10*time.Second, nil)
	signer := newSigner(t)
	data := randomBytes(300 << 10)
	up := do(t, signedUpload(t, s.url, s.chain, signer, s.node, bytes.NewReader(data), int64(len(data))))
	if up.status != 201 {
		t.Fatalf("upload: %+v", up)
	}
	cid, _, _ := local.CID(bytes.NewReader(data))
	c := cid.String()
	ranged := func(r string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/blobs/"+c, nil)
		req.Header.Set("Range", r)
		return req
	}
	tooLarge := signedUpload(t, s.url, s.chain, signer, s.node, nil, 9<<20)
	tooLarge.ContentLength = 0
	answers := map[string]answer{
		"upload":      up,
		"blob":        get(t, s.url+"/v1/blobs/"+c, ""),
		"range":       do(t, ranged("bytes=0-9")),
		"car":         get(t, s.url+"/v1/blobs/"+c+"/car", ""),
		"not held":    get(t, s.url+"/v1/blobs/"+junkCID().String(), ""),
		"not a CID":   get(t, s.url+"/v1/blobs/nope", ""),
		"bad range":   do(t, ranged("bytes=999999999-")),
		"too large":   do(t, tooLarge),
		"bad signing": do(t, signedUpload(t, s.url, "another-chain", signer, s.node, bytes.NewReader(data), int64(len(data)))),
	}
	want := map[string]int{"upload": 201, "blob": 200, "range": 206, "car": 200, "not held": 404, "not a CID": 400,
		"bad range": 416, "too large": 413, "bad signing": 401}
	for name, a := range answers {
		if a.status != want[name] || a.cache != "no-store" {
			t.Errorf("%s: HTTP %d, Cache-Control %q", name, a.status, a.cache)
		}
	}
}
