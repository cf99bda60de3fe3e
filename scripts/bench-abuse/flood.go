package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/store/cidsum"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Source addresses of each kind of hostile client (benchkit.From); honest ones use 100–199.
const (
	junkSource   = 1000
	uploadSource = 2000
	depositSrc   = 3000
	spamSource   = 4000
	slowSource   = 5000
)

// attack is the hostile clients, prepared before the flood so that its own set-up is not
// measured: accounts enrolled, grants signed, bodies made.
type attack struct {
	e        *env
	f        flood
	expireAt time.Time

	enrolled     int           // self-service accounts the flood made
	expiryTxs    [][][]byte    // per expiry owner, its grants in sequence order
	expiryGrants []protocol.ID //
	junk         [][]byte      // refused transactions of every kind
	uploaders    []*uploader   //
	spam         [][][]byte    // per spammer, one signed re-encryption request per node
	slowBlob     string        // a large blob every node holds
	tally        *tally        //
}

type uploader struct {
	acct     *benchkit.Account
	enrolled bool
	mu       sync.Mutex // orders its transactions
}

func prepare(e *env, f flood, duration time.Duration) (*attack, error) {
	a := &attack{e: e, f: f, tally: newTally()}
	t0 := time.Now()
	var err error
	bits := int(node.LocalAdmission.EnrolBits)
	enrol := func(n int) ([]*benchkit.Account, error) {
		accts := make([]*benchkit.Account, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range accts {
			if accts[i], errs[i] = benchkit.NewAccount(); errs[i] != nil {
				return nil, errs[i]
			}
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = accts[i].Enrol(e.ctx, e.rpc, e.chain, bits) }()
		}
		wg.Wait()
		a.enrolled += n
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		return accts, nil
	}
	// The expiring grants are made by a hostile clinic's accounts, admitted by a registry
	// node's operator (members send at the full pace), and committed before the flood starts,
	// as an attacker would make them at leisure.
	owners := make([]*benchkit.Account, f.expiryOwners)
	var ownerKeys []protocol.PubKey
	for i := range owners {
		if owners[i], err = benchkit.NewAccount(); err != nil {
			return nil, err
		}
		ownerKeys = append(ownerKeys, owners[i].PK)
	}
	if len(ownerKeys) > 0 {
		if err := e.nw.Node(0).Admit(e.ctx, protocol.TierMember, ownerKeys...); err != nil {
			return nil, err
		}
	}
	spammers, err := enrol(f.spammers)
	if err != nil {
		return nil, err
	}
	upEnrolled, err := enrol(f.uploaders / 2)
	if err != nil {
		return nil, err
	}
	for i := range f.uploaders {
		u := &uploader{}
		if i < len(upEnrolled) {
			u.acct, u.enrolled = upEnrolled[i], true
		} else if u.acct, err = benchkit.NewAccount(); err != nil {
			return nil, err
		}
		a.uploaders = append(a.uploaders, u)
	}
	if err := a.prepareSpam(spammers); err != nil {
		return nil, fmt.Errorf("re-encryption spam: %w", err)
	}
	if f.slowReaders > 0 {
		if err := a.prepareSlowBlob(); err != nil {
			return nil, fmt.Errorf("slow readers' blob: %w", err)
		}
	}
	replayer, err := enrol(1)
	if err != nil {
		return nil, err
	}
	if err := a.prepareJunk(replayer[0]); err != nil {
		return nil, err
	}
	// The instant falls after the grants committed and before the flood ends.
	perOwner := float64(f.expiries) / float64(max(1, f.expiryOwners))
	a.expireAt = time.Now().Add(10*time.Second + time.Duration(perOwner/40*float64(time.Second)) + duration/2)
	if err := a.prepareExpiries(owners); err != nil {
		return nil, fmt.Errorf("expiring grants: %w", err)
	}
	// Bounded: a chain that stops committing would otherwise keep every account at its
	// mempool limit, refused for ever.
	sendCtx, cancel := context.WithDeadline(e.ctx, a.expireAt)
	defer cancel()
	var wg sync.WaitGroup
	for i := range a.expiryTxs {
		wg.Add(1)
		go func() { defer wg.Done(); a.sendExpiries(sendCtx, i) }()
	}
	wg.Wait()
	if time.Until(a.expireAt) < time.Second {
		return nil, fmt.Errorf("the expiring grants took too long to commit: %s", a.tally.line("expiring grants"))
	}
	fmt.Printf("flood prepared in %v: %d accounts enrolled by proof of work\n", time.Since(t0).Round(time.Millisecond), a.enrolled)
	return a, nil
}

// recordBody is a PutRecord of the account's next record, with a real capsule under the
// record's own delegating key, naming c.
func (a *attack) recordBody(acct *benchkit.Account, c string, size uint64) (*protocol.PutRecord, *umbral.SecretKey, error) {
	id := protocol.RecordID(a.e.chain, acct.PK, acct.Seq)
	dk, err := acct.ID.DelegatingKey(id[:])
	if err != nil {
		return nil, nil, err
	}
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), make([]byte, 32))
	if err != nil {
		return nil, nil, err
	}
	body := &protocol.PutRecord{CID: []byte(c), Size: size, DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := capsule.MarshalBinary()
	copy(body.Capsule[:], cb)
	return body, dk, nil
}

// junkRecord puts a record naming a CID nobody holds: replication must back off from it.
func (a *attack) junkRecord(acct *benchkit.Account) (protocol.ID, *umbral.SecretKey, error) {
	junk := make([]byte, 1024)
	rand.Read(junk)
	c, _, err := cidsum.Sum(bytes.NewReader(junk))
	if err != nil {
		return protocol.ID{}, nil, err
	}
	id := protocol.RecordID(a.e.chain, acct.PK, acct.Seq)
	body, dk, err := a.recordBody(acct, c.String(), 1024)
	if err != nil {
		return id, nil, err
	}
	raw, err := acct.Sign(a.e.chain, body)
	if err != nil {
		return id, nil, err
	}
	_, err = a.e.rpc.Submit(a.e.ctx, raw)
	return id, dk, err
}

// prepareExpiries signs each owner's share of the grants, all ending at expireAt, on a
// record of its own that names a CID nobody holds.
func (a *attack) prepareExpiries(owners []*benchkit.Account) error {
	if len(owners) == 0 {
		return nil
	}
	per := (a.f.expiries + len(owners) - 1) / len(owners)
	a.expiryTxs = make([][][]byte, len(owners))
	for i, o := range owners {
		rec, _, err := a.junkRecord(o)
		if err != nil {
			return err
		}
		for j := 0; j < per && i*per+j < a.f.expiries; j++ {
			g := &protocol.Grant{Record: rec, OwnerEnc: o.PK, RecipientSig: o.PK, RecipientEnc: o.PK, NotAfter: a.expireAt.UnixNano(), Purpose: "flood"}
			for k, n := range a.e.nodes {
				g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: n.ProxyKey, Commitment: [32]byte{byte(k), byte(j)}})
			}
			a.expiryGrants = append(a.expiryGrants, protocol.GrantID(a.e.chain, o.PK, o.Seq))
			raw, err := o.Sign(a.e.chain, g)
			if err != nil {
				return err
			}
			a.expiryTxs[i] = append(a.expiryTxs[i], raw)
		}
	}
	return nil
}

// prepareSpam gives each spammer a real record, a grant to itself with its fragments
// deposited, and a committed access request, then signs one re-encryption request per node:
// re-encryption as expensive as an honest one, asked again and again.
func (a *attack) prepareSpam(spammers []*benchkit.Account) error {
	e := a.e
	keys := make([]protocol.PubKey, len(e.nodes))
	for i, n := range e.nodes {
		keys[i] = n.ProxyKey
	}
	for i, s := range spammers {
		rec, dk, err := a.junkRecord(s)
		if err != nil {
			return err
		}
		frags, err := client.MakeFragments(dk, s.ID.Signer(), s.ID.Public().Receiving, keys, 0)
		if err != nil {
			return err
		}
		grantID := protocol.GrantID(e.chain, s.PK, s.Seq)
		raw, err := s.Sign(e.chain, &protocol.Grant{Record: rec, OwnerEnc: s.PK, RecipientSig: s.PK,
			RecipientEnc: protocol.PubKeyOf(s.ID.Public().Receiving), Nodes: frags.Nodes})
		if err != nil {
			return err
		}
		gc, err := e.rpc.Submit(e.ctx, raw)
		if err != nil {
			return err
		}
		api := &client.API{HTTP: e.client(spamSource + i)}
		if _, err := api.Deposit(e.ctx, e.chain, grantID, gc.Height, frags, e.nodes); err != nil {
			return err
		}
		if raw, err = s.Sign(e.chain, &protocol.RequestAccess{Grant: grantID, Purpose: "flood"}); err != nil {
			return err
		}
		c, err := e.rpc.Submit(e.ctx, raw)
		if err != nil {
			return err
		}
		if err := e.nw.WaitHeight(e.ctx, c.Height+1); err != nil {
			return err
		}
		snap, err := e.nw.Node(0).App().Committed()
		if err != nil {
			return err
		}
		r, err := snap.Record(rec)
		snap.Release()
		if err != nil {
			return err
		}
		var bodies [][]byte
		for _, n := range e.nodes {
			req := &protocol.ReencryptRequest{RequestTx: c.Hash, Height: c.Height, Grant: grantID,
				Capsule: r.Capsule, Node: n.ProxyKey, NotAfter: time.Now().Add(4 * time.Minute).UnixNano()}
			if err := req.Sign(e.chain, s.ID.Signer()); err != nil {
				return err
			}
			b, _ := json.Marshal(req)
			bodies = append(bodies, b)
		}
		a.spam = append(a.spam, bodies)
	}
	return nil
}

// prepareSlowBlob puts a 16 MiB record (through the SDK, enrolling as anyone can) and waits
// until every node holds it: more than the sockets' buffers can swallow at once.
func (a *attack) prepareSlowBlob() error {
	e := a.e
	id, err := identity.Generate()
	if err != nil {
		return err
	}
	s, err := client.New(e.desc, id, &client.Options{HTTP: e.client(slowSource)})
	if err != nil {
		return err
	}
	const size = 16 << 20
	data := make([]byte, size)
	rand.Read(data)
	rec, err := s.Put(e.ctx, bytes.NewReader(data), size, envelope.Metadata{Name: "big", Size: size, Created: time.Now()})
	if err != nil {
		return err
	}
	a.enrolled++
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := s.Record(e.ctx, rec)
		if err != nil {
			return err
		}
		if len(r.Holders) == len(e.nodes) {
			a.slowBlob = string(r.CID)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 2 minutes %d of %d nodes hold the blob", len(r.Holders), len(e.nodes))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// prepareJunk makes transactions every node must refuse: bytes that do not decode, proper
// transactions from keys nobody admitted, and an enrolled account's replayed transaction.
func (a *attack) prepareJunk(enrolled *benchkit.Account) error {
	replay := *enrolled
	replay.Seq = 0
	old, err := replay.Sign(a.e.chain, &protocol.Revoke{Grant: protocol.ID{1}})
	if err != nil {
		return err
	}
	for i := range 64 {
		b := make([]byte, 64+mrand.IntN(448))
		rand.Read(b)
		stranger, err := benchkit.NewAccount()
		if err != nil {
			return err
		}
		tx, err := stranger.Sign(a.e.chain, &protocol.Revoke{Grant: protocol.ID{byte(i)}})
		if err != nil {
			return err
		}
		a.junk = append(a.junk, b, tx, old)
	}
	return nil
}

func (a *attack) describe() string {
	f := a.f
	return fmt.Sprintf("%.0f junk tx/s from %d sources; %d fresh keys uploading %s blobs 4 at a time (%d enrolled, "+
		"recording what they may); %.0f junk deposits/s; %d enrolled accounts re-encrypting their own grant "+
		"as fast as the nodes answer; %d slow readers at 1 KiB/s; %d committed grants (%s) expiring at one instant %v in",
		f.junkRate, f.junkSources, f.uploaders, humanBytes(f.uploadSize), f.uploaders/2, f.depositRate, f.spammers,
		f.slowReaders, len(a.expiryGrants), a.tally.line("expiring grants"), time.Until(a.expireAt).Round(time.Second))
}

// diskBound is what the flood's accounts may keep on one node: each enrolled account's
// allowance of recorded bytes, and as much again uploaded and not yet recorded.
func (a *attack) diskBound() int64 {
	return int64(a.enrolled) * 2 * int64(node.LocalAdmission.Self.Bytes)
}

// start sends every kind of hostile client at the network until ctx ends; the channel
// gives what they saw once they have all stopped.
func (a *attack) start(ctx context.Context) <-chan *tally {
	var wg sync.WaitGroup
	goes := func(fn func()) { wg.Add(1); go func() { defer wg.Done(); fn() }() }
	goes(func() { a.junkTxs(ctx) })
	goes(func() { a.junkDeposits(ctx) })
	for i, u := range a.uploaders {
		for range 4 {
			goes(func() { a.upload(ctx, i, u) })
		}
	}
	for i := range a.spam {
		for c := range 4 {
			goes(func() { a.reencrypt(ctx, i, c) })
		}
	}
	for i := range a.f.slowReaders {
		goes(func() { a.slowRead(ctx, i) })
	}
	done := make(chan *tally, 1)
	go func() { wg.Wait(); done <- a.tally }()
	return done
}

// post sends body and notes the answer's status under kind; it returns the status.
func (a *attack) post(ctx context.Context, hc *http.Client, kind, url string, body []byte, header http.Header) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.tally.note(kind, "error")
		}
		return 0
	}
	a.tally.note(kind, statusName(resp))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode
}

func (a *attack) junkTxs(ctx context.Context) {
	hcs := make([]*http.Client, a.f.junkSources)
	for i := range hcs {
		hcs[i] = a.e.client(junkSource + i)
	}
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	paced(ctx, a.f.junkRate, func(k int) {
		n := a.e.nodes[k%len(a.e.nodes)]
		a.post(ctx, hcs[k%len(hcs)], "junk transactions", n.URL()+"/v1/tx", a.junk[k%len(a.junk)], hdr)
	})
}

func (a *attack) junkDeposits(ctx context.Context) {
	hcs := make([]*http.Client, 16)
	for i := range hcs {
		hcs[i] = a.e.client(depositSrc + i)
	}
	body := make([]byte, 700)
	rand.Read(body)
	hdr := http.Header{"Content-Type": {"application/json"}}
	paced(ctx, a.f.depositRate, func(k int) {
		var g protocol.ID
		rand.Read(g[:])
		n := a.e.nodes[k%len(a.e.nodes)]
		a.post(ctx, hcs[k%len(hcs)], "junk deposits", n.URL()+"/v1/grants/"+g.String()+"/fragment", body, hdr)
	})
}

// paced calls send(k) for k = 0, 1, … at perSecond until ctx ends, up to 64 calls at once, and
// waits for them: an open-loop flood, whatever the nodes answer.
func paced(ctx context.Context, perSecond float64, send func(k int)) {
	lim := rate.NewLimiter(rate.Limit(perSecond), 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 64)
	for k := 0; lim.Wait(ctx) == nil; k++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			send(k)
		}()
	}
}

// upload is one of an uploader's four parallel streams: fresh blobs to one node, each
// recorded on the ledger when the account is enrolled (until its allowance refuses). It
// sends bytes without computing their CID, as an attacker would: the node answers it.
func (a *attack) upload(ctx context.Context, i int, u *uploader) {
	e := a.e
	n := e.nodes[i%len(e.nodes)]
	hc := e.client(uploadSource + i)
	data := make([]byte, a.f.uploadSize)
	rand.Read(data)
	for ctx.Err() == nil {
		rand.Read(data[:16])
		auth, err := protocol.SignUpload(u.acct.ID.Signer(), e.chain, n.ProxyKey, int64(len(data)), time.Now())
		if err != nil {
			return
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/v1/blobs", bytes.NewReader(data))
		auth.SetHeaders(req.Header)
		req.Header.Set("Content-Type", "application/octet-stream")
		var ans protocol.UploadAnswer
		wait := 200 * time.Millisecond
		resp, err := hc.Do(req)
		if err == nil {
			err = protocol.ReadAnswer(resp, 1<<16, &ans)
			resp.Body.Close()
			// The node refuses before it reads the body: a client that ignores Retry-After
			// only spends its own bandwidth, which here would be this machine's CPU.
			if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		if ctx.Err() != nil {
			return
		}
		a.tally.note("uploads", errName(err))
		if err != nil {
			sleep(ctx, wait)
			continue
		}
		if !u.enrolled {
			continue
		}
		u.mu.Lock()
		body, _, err := a.recordBody(u.acct, ans.CID, uint64(len(data)))
		var raw []byte
		if err == nil {
			raw, err = u.acct.Sign(e.chain, body)
		}
		if err == nil {
			var res *node.Committed
			res, err = e.rpc.Submit(ctx, raw)
			if err != nil && res == nil {
				u.acct.Seq-- // refused at CheckTx: the sequence was not spent
			}
		}
		u.mu.Unlock()
		a.tally.note("hostile records", errName(err))
	}
}

// reencrypt is one of a spammer's connections: its committed request, again and again,
// to each node in turn.
func (a *attack) reencrypt(ctx context.Context, i, c int) {
	hc := a.e.client(spamSource + i)
	hdr := http.Header{"Content-Type": {"application/json"}}
	for k := c; ctx.Err() == nil; k++ {
		j := k % len(a.e.nodes)
		if code := a.post(ctx, hc, "re-encryptions", a.e.nodes[j].URL()+"/v1/reencrypt", a.spam[i][j], hdr); code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			sleep(ctx, 20*time.Millisecond)
		}
	}
}

// slowRead holds a connection on the big blob, reading 1 KiB a second; the readers share
// few sources, more than each source's transfer cap.
func (a *attack) slowRead(ctx context.Context, i int) {
	e := a.e
	hc := &http.Client{Transport: benchkit.From(e.tr, slowSource+1+i/16)}
	n := e.nodes[(i/16)%len(e.nodes)] // 16 from each source to one node: twice its cap
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/v1/blobs/"+a.slowBlob, nil)
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				a.tally.note("slow readers", "error")
				sleep(ctx, time.Second)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			a.tally.note("slow readers", statusName(resp))
			resp.Body.Close()
			sleep(ctx, time.Second)
			continue
		}
		buf := make([]byte, 1024)
		var err2 error
		for ctx.Err() == nil && err2 == nil {
			_, err2 = io.ReadFull(resp.Body, buf)
			sleep(ctx, time.Second)
		}
		resp.Body.Close()
		if ctx.Err() != nil {
			a.tally.note("slow readers", "still reading at the end")
		} else {
			a.tally.note("slow readers", "cut by the node")
		}
	}
}

// sendExpiries broadcasts one owner's grants in sequence order, up to 32 uncommitted.
func (a *attack) sendExpiries(ctx context.Context, i int) {
	slots := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, raw := range a.expiryTxs[i] {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		p, err := a.e.rpc.Broadcast(ctx, raw)
		for errors.Is(err, protocol.ErrRateLimited) && ctx.Err() == nil {
			sleep(ctx, 50*time.Millisecond) // paced by CheckTx: the account waits its turn
			p, err = a.e.rpc.Broadcast(ctx, raw)
		}
		if err != nil {
			a.tally.note("expiring grants", errName(err))
			<-slots
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			_, err := p.Wait(ctx)
			if ctx.Err() == nil {
				a.tally.note("expiring grants", errName(err))
			}
		}()
	}
}

// checkExpiries reads the committed grants once the flood is over: how many committed, how
// many have expired, and the blocks their expiries took.
func (a *attack) checkExpiries(e *env) error {
	deadline := time.Now().Add(time.Minute)
	for {
		snap, err := e.nw.Node(0).App().Committed()
		if err != nil {
			return err
		}
		var committed, expired int
		var first, last int64
		for _, id := range a.expiryGrants {
			g, err := snap.Grant(id)
			if err != nil {
				continue
			}
			committed++
			if g.Expired {
				expired++
				if first == 0 || g.ExpiredHeight < first {
					first = g.ExpiredHeight
				}
				last = max(last, g.ExpiredHeight)
			}
		}
		snap.Release()
		if expired == committed || time.Now().After(deadline) {
			fmt.Printf("expiries: %d of %d grants committed; %d expired, in blocks %d to %d (%d blocks)\n",
				committed, len(a.expiryGrants), expired, first, last, last-first+1)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tally counts the answers the hostile clients had, by kind of client.
type tally struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func newTally() *tally { return &tally{m: map[string]map[string]int{}} }

func (t *tally) note(kind, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[kind] == nil {
		t.m[kind] = map[string]int{}
	}
	t.m[kind][outcome]++
}

// line is what one kind of client got, on one line.
func (t *tally) line(kind string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for o, n := range t.m[kind] {
		parts = append(parts, fmt.Sprintf("%s %d", o, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (t *tally) print() {
	t.mu.Lock()
	defer t.mu.Unlock()
	kinds := make([]string, 0, len(t.m))
	for k := range t.m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Println("what the hostile clients got:")
	t.mu.Unlock()
	for _, k := range kinds {
		fmt.Printf("  %s: %s\n", k, t.line(k))
	}
	t.mu.Lock()
}

func statusName(resp *http.Response) string {
	if resp.StatusCode < 300 {
		return "accepted"
	}
	var answer struct{ Error protocol.Error }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<12))
	if json.Unmarshal(b, &answer) == nil && answer.Error.Code != "" {
		return fmt.Sprintf("%d %s", resp.StatusCode, answer.Error.Code)
	}
	return fmt.Sprint(resp.StatusCode)
}

func errName(err error) string {
	if err == nil {
		return "accepted"
	}
	if pe := protocol.ErrorOf(err); pe != nil {
		return pe.Code
	}
	for _, code := range []string{"not_admitted", "quota", "rate_limited", "busy", "bad_sequence"} {
		if strings.Contains(err.Error(), code) {
			return code
		}
	}
	return "error"
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
