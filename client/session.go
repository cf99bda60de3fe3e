package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// Session is one identity's connection to a network: the high-level SDK.
// Every call that changes the ledger signs a transaction with the
// identity, waits until it is committed, and tries the next node when one
// is down or failing. A Session is safe for concurrent use; its
// transactions are sent one at a time, in sequence order.
type Session struct {
	nw      *protocol.Network
	id      *identity.Identity
	me      protocol.PubKey
	l       *ledgerConn
	api     *API // proxies: small requests, short timeout
	blobAPI *API // blobs: no overall timeout
	blobs   BlobStore
	log     *slog.Logger
	tmp     string

	mu       sync.Mutex // one transaction of this identity in flight at a time
	nextSeq  uint64     // the lowest sequence the next transaction may carry
	seqKnown bool       // nextSeq is this identity's next sequence, as far as this session knows
	admitted bool       // the identity may transact (admitted, enrolled, or an open network)

	liesMu sync.Mutex
	lies   []Lie
}

// Options configure a Session. The zero value is ready to use.
type Options struct {
	// HTTP talks to the nodes (nil: clients suited to each kind of call;
	// a client given here must have no overall timeout, since blobs may
	// take long; calls are bounded by their context).
	HTTP *http.Client
	// Blobs moves sealed blobs (nil: the nodes' blob API).
	Blobs BlobStore
	// TempDir holds sealed files while they are uploaded or fetched ("": the
	// system's temporary directory). They are ciphertext, removed after use.
	TempDir string
	Logger  *slog.Logger
}

// BlobStore moves sealed blobs between the client and the network.
type BlobStore interface {
	// Upload stores the sealed blob held in r (size bytes) and returns the
	// CID the storing side computed for it.
	Upload(ctx context.Context, r io.ReaderAt, size int64) (cid.Cid, error)
	// Fetch writes blob c to w, verifying every block. After an error the
	// caller discards what was written.
	Fetch(ctx context.Context, c cid.Cid, w io.Writer) error
}

// StoreBlobs is a BlobStore over a store.Store the client can open
// directly (a node's own store on the same host, or a test's).
type StoreBlobs struct{ Store store.Store }

// Upload implements BlobStore.
func (b StoreBlobs) Upload(ctx context.Context, r io.ReaderAt, size int64) (cid.Cid, error) {
	c, n, err := b.Store.Put(ctx, io.NewSectionReader(r, 0, size))
	if err == nil && n != size {
		err = fmt.Errorf("client: store took %d of %d bytes", n, size)
	}
	return c, err
}

// Fetch implements BlobStore.
func (b StoreBlobs) Fetch(ctx context.Context, c cid.Cid, w io.Writer) error {
	rc, err := b.Store.Get(ctx, c)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// New opens a session of identity id on the network nw.
func New(nw *protocol.Network, id *identity.Identity, opts *Options) (*Session, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := nw.Check(); err != nil {
		return nil, err
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Session{nw: nw, id: id, me: protocol.PubKeyOf(id.Public().Signing),
		l: &ledgerConn{http: hc, chainID: nw.ChainID, nodes: nw.Nodes, f: nw.F()}, api: &API{HTTP: &http.Client{Transport: hc.Transport, Timeout: 10 * time.Second}},
		blobAPI: &API{HTTP: opts.HTTP}, blobs: opts.Blobs, log: lg, tmp: opts.TempDir}
	if s.blobs == nil {
		s.blobs = newNodeBlobs(s)
	}
	s.l.lied = s.recordLie
	return s, nil
}

// maxLies bounds what a long-lived session remembers of lying nodes.
const maxLies = 256

func (s *Session) recordLie(l Lie) {
	s.liesMu.Lock()
	defer s.liesMu.Unlock()
	if len(s.lies) < maxLies {
		s.lies = append(s.lies, l)
	}
	s.log.Warn("a node lied", "node", l.Node, "what", l.What)
}

// Lies returns the answers this session caught a node lying in (contradicted by f+1 other
// nodes, or not signed by the node), oldest first, and forgets them. A call that succeeded
// despite a lie got the truth from the other nodes; one that failed names the liar too.
func (s *Session) Lies() []Lie {
	s.liesMu.Lock()
	defer s.liesMu.Unlock()
	out := s.lies
	s.lies = nil
	return out
}

// Network is the network the session talks to.
func (s *Session) Network() *protocol.Network { return s.nw }

// Identity is the session's public identity.
func (s *Session) Identity() identity.Public { return s.id.Public() }

// Progress reports how far a long call is: Done of Total bytes in Phase
// ("seal" and "upload" for Put; "fetch" and "open" for Get).
type Progress struct {
	Phase string
	Done  int64
	Total int64
}

// CallOption tunes one call.
type CallOption func(*callOpts)

type callOpts struct {
	progress func(Progress)
}

// WithProgress calls fn as bytes move. fn runs on the calling goroutine
// and must be quick.
func WithProgress(fn func(Progress)) CallOption { return func(o *callOpts) { o.progress = fn } }

func collect(opts []CallOption) *callOpts {
	o := &callOpts{}
	for _, f := range opts {
		f(o)
	}
	return o
}

// counter reports bytes passing through it, at most every 256 KiB.
type counter struct {
	phase       string
	done, total int64
	last        int64
	fn          func(Progress)
}

func (c *counter) add(n int) {
	c.done += int64(n)
	if c.fn != nil && (c.done-c.last >= 256<<10 || c.done == c.total) {
		c.last = c.done
		c.fn(Progress{Phase: c.phase, Done: c.done, Total: c.total})
	}
}

type countingReader struct {
	r io.Reader
	c *counter
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.add(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	c *counter
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.c.add(n)
	return n, err
}

// Submit signs body with the identity at its next sequence number, submits it, and returns
// its result once f+1 nodes confirm it committed: the low-level way to send a transaction
// the Session has no call for. A failure in the block returns the result and the error.
func (s *Session) Submit(ctx context.Context, body protocol.Body) (*protocol.TxResult, error) {
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
	if done == nil {
		return nil, err
	}
	return done.res, err
}

// transact signs a transaction with the next sequence number, submits it
// and waits for its block. build gets the sequence (ids derive from it)
// and may fail; on a sequence conflict the sequence is read again and build
// called again, at most a few times.
func (s *Session) transact(ctx context.Context, build func(seq uint64) (protocol.Body, error)) (*txDone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lastErr error
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 4; attempt++ {
		seq, err := s.sequence(ctx)
		if err != nil {
			return nil, err
		}
		body, err := build(seq)
		if err != nil {
			return nil, err
		}
		done, err := s.submitAt(ctx, seq, body)
		if errors.Is(err, protocol.ErrBadSequence) {
			s.seqKnown = false
			// Another client of this identity got there first, or the node
			// asked was behind: read the sequence again.
			lastErr = err
			if err := sleep(ctx, time.Duration(attempt+1)*150*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		return done, err
	}
	return nil, fmt.Errorf("client: sequence kept moving: %w", lastErr)
}

// TxLifetime is how long after signing a Session's transaction may still enter a block:
// the transaction carries the bound (protocol.Tx.Expires), so its bytes cannot be kept and
// submitted much later.
const TxLifetime = 5 * time.Minute

// submitAt signs body at seq and commits it; s.mu is held.
func (s *Session) submitAt(ctx context.Context, seq uint64, body protocol.Body) (*txDone, error) {
	raw, err := protocol.Sealed(s.id.Signer(), s.nw.ChainID, seq, time.Now().Add(TxLifetime), body)
	if err != nil {
		return nil, err
	}
	res, err := s.l.submit(ctx, raw)
	if res == nil {
		return nil, err
	}
	if !errors.Is(err, protocol.ErrBadSequence) {
		// In a block, whatever its outcome: the sequence is spent (ledger/SPEC.md §2).
		s.nextSeq, s.seqKnown = seq+1, true
	}
	return &txDone{seq: seq, hash: res.Hash, height: res.Height, res: res}, err
}

// txDone is a transaction in a committed block, confirmed by f+1 nodes; with an error, it
// failed there.
type txDone struct {
	seq    uint64
	hash   protocol.Hash32
	height int64
	res    *protocol.TxResult
}

// sequence is the identity's next sequence number: the one after this session's last
// transaction once it had one (a sequence conflict clears it, and the next call reads it
// again), else the committed one, as f+1 nodes say.
func (s *Session) sequence(ctx context.Context) (uint64, error) {
	if s.seqKnown {
		return s.nextSeq, nil
	}
	var v struct {
		Sequence uint64 `json:"sequence"`
	}
	if _, err := s.l.query(ctx, "/account/"+s.me.String(), nil, &v); err != nil && !errors.Is(err, protocol.ErrNotFound) {
		return 0, err
	}
	return max(v.Sequence, s.nextSeq), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// admit makes sure the identity may transact, once per Session: on a network with admission
// rules, an identity nobody admitted enrols itself with proof of work (about 2^enrol_bits
// hashes, a fraction of a second), or learns that only an operator can admit it. s.mu is
// held.
func (s *Session) admit(ctx context.Context) error {
	if s.admitted {
		return nil
	}
	var acc protocol.Account
	_, err := s.l.query(ctx, "/admission/"+s.me.String(), nil, &acc)
	if err == nil {
		s.admitted = true
		return nil
	}
	if !errors.Is(err, protocol.ErrNotFound) {
		return err
	}
	var rules protocol.AdmissionRules
	if _, err := s.l.query(ctx, "/admission", nil, &rules); errors.Is(err, protocol.ErrNotFound) {
		s.admitted = true // an open network
		return nil
	} else if err != nil {
		return err
	}
	if rules.EnrolBits == 0 {
		return &kindError{ErrNotAdmitted, fmt.Errorf("client: this network admits identities through its nodes' operators: ask one to admit %s", s.me)}
	}
	started := time.Now()
	nonce, err := protocol.SolveEnrol(ctx, s.nw.ChainID, s.me, int(rules.EnrolBits))
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		seq, err := s.sequence(ctx)
		if err != nil {
			return err
		}
		_, err = s.submitAt(ctx, seq, &protocol.Enrol{Nonce: nonce})
		switch {
		case err == nil || errors.Is(err, protocol.ErrAlreadyExists):
			s.log.Debug("identity enrolled", "bits", rules.EnrolBits, "took", time.Since(started))
			s.admitted = true
			return nil
		case errors.Is(err, protocol.ErrBadSequence) && attempt < 3:
			s.seqKnown = false
			if err := sleep(ctx, time.Duration(attempt+1)*150*time.Millisecond); err != nil {
				return err
			}
		default:
			return fmt.Errorf("client: enrolling the identity: %w", err)
		}
	}
}

// Account is the identity's admission and what it keeps against its allowance, as f+1
// nodes say (ErrNotFound while nobody admitted it and it has not enrolled; every Session
// call that transacts enrols it first where the network allows).
func (s *Session) Account(ctx context.Context) (*protocol.Account, error) {
	var acc protocol.Account
	if _, err := s.l.query(ctx, "/admission/"+s.me.String(), nil, &acc); err != nil {
		return nil, classify(err)
	}
	return &acc, nil
}
