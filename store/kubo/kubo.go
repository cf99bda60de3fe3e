// Package kubo is the blob store backed by a kubo (go-ipfs) daemon, driven over its HTTP RPC API
// with plain net/http.
//
// The daemon never chunks anything: Put builds the DAG locally with the frozen profile of
// store/local, streams it to the daemon as a CAR (dag/import), and checks that the root the
// daemon reports equals the local one. Reads fetch blocks one by one with block/get in offline
// mode and verify every hash, so a damaged or lying daemon yields ErrCorrupt, never wrong bytes.
// Delete unpins and runs repo/gc, which also collects any other unpinned blocks on that daemon.
package kubo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/internal/dagio"
	"github.com/resilientrecords/resilientrecords/store/local"
)

// DefaultPinName names the pins this package creates, so List ignores the daemon's other pins.
const DefaultPinName = "rrec"

// Options tune a Store. The zero value is the default.
type Options struct {
	// MaxSize is the largest blob accepted, in bytes: 0 means local.DefaultMaxSize, negative
	// means no limit.
	MaxSize int64
	// TempDir is where Put and ImportCAR stage a DAG before sending it; default os.TempDir().
	TempDir string
	// PinName names the store's pins; default DefaultPinName.
	PinName string
	// HTTPClient overrides the client used for RPC calls.
	HTTPClient *http.Client
}

// Store is a store.Store over a kubo daemon.
type Store struct {
	addr    string // as given, for error messages
	base    string // http://host:port
	hc      *http.Client
	max     int64
	tmp     string
	pinName string
}

var _ store.Store = (*Store)(nil)

// New returns a store for the daemon whose API listens at addr (see ParseAPIAddr). It does not
// contact the daemon; the first call does.
func New(addr string, opts *Options) (*Store, error) {
	base, err := ParseAPIAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("kubo store: %w", err)
	}
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{addr: addr, base: base, hc: opts.HTTPClient, max: opts.MaxSize, tmp: opts.TempDir, pinName: opts.PinName}
	if s.hc == nil {
		s.hc = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
		}}
	}
	if s.max == 0 {
		s.max = local.DefaultMaxSize
	}
	if s.pinName == "" {
		s.pinName = DefaultPinName
	}
	return s, nil
}

// NewFromRepo returns a store for the daemon running on the repo at ipfsPath, reading its API
// address from the repo's api file.
func NewFromRepo(ipfsPath string, opts *Options) (*Store, error) {
	b, err := os.ReadFile(filepath.Join(ipfsPath, "api"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("kubo store: %w: no api file in %s (is the daemon running?)", ErrUnreachable, ipfsPath)
	}
	if err != nil {
		return nil, fmt.Errorf("kubo store: %w", err)
	}
	return New(strings.TrimSpace(string(b)), opts)
}

// Addr returns the API address the store talks to.
func (s *Store) Addr() string { return s.addr }

// Close releases idle connections.
func (s *Store) Close() error {
	s.hc.CloseIdleConnections()
	return nil
}

func cidArg(c cid.Cid, more ...string) url.Values {
	v := url.Values{"arg": {c.String()}}
	for i := 0; i+1 < len(more); i += 2 {
		v.Set(more[i], more[i+1])
	}
	return v
}

// getBlock is the dagio.Getter: block/get, offline so that a missing block is an error rather
// than a network search.
func (s *Store) getBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	resp, err := s.call(ctx, "block/get", cidArg(c, "offline", "true"), nil, "")
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: block %s on %s", store.ErrNotFound, c, s.addr)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, dagio.MaxBlockSize+1))
	if err != nil {
		return nil, fmt.Errorf("kubo block/get %s: %w", c, err)
	}
	return b, nil
}

// stage runs fn against a temporary local store, so the DAG is built and checked here.
func (s *Store) stage(fn func(tmp *local.Store) error) error {
	dir, err := os.MkdirTemp(s.tmp, "rrec-kubo-stage-")
	if err != nil {
		return fmt.Errorf("kubo store: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp, err := local.Open(dir, &local.Options{MaxSize: s.max})
	if err != nil {
		return fmt.Errorf("kubo store: %w", err)
	}
	defer tmp.Close()
	return fn(tmp)
}

// Put builds the DAG locally, imports it into the daemon as a CAR and pins it.
func (s *Store) Put(ctx context.Context, r io.Reader) (cid.Cid, int64, error) {
	var root cid.Cid
	var n int64
	err := s.stage(func(tmp *local.Store) error {
		var err error
		if root, n, err = tmp.Put(ctx, r); err != nil {
			return err
		}
		return s.push(ctx, tmp, root)
	})
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("kubo store: put: %w", err)
	}
	return root, n, nil
}

// push streams root's DAG from tmp to the daemon's dag/import, checks the root it reports, and
// names the pin.
func (s *Store) push(ctx context.Context, tmp *local.Store, root cid.Cid) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		part, err := mw.CreateFormFile("file", root.String()+".car")
		if err == nil {
			err = tmp.ExportCAR(ctx, root, part)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var reported []cid.Cid
	err := s.callJSON(ctx, "dag/import", url.Values{"pin-roots": {"true"}}, pr, mw.FormDataContentType(),
		func(dec *json.Decoder) error {
			var out struct {
				Root *struct {
					Cid struct {
						Slash string `json:"/"`
					}
					PinErrorMsg string
				}
			}
			if err := dec.Decode(&out); err != nil {
				return fmt.Errorf("kubo dag/import: bad answer: %w", err)
			}
			if out.Root == nil {
				return nil
			}
			if out.Root.PinErrorMsg != "" {
				return fmt.Errorf("kubo dag/import: pinning %s: %s", out.Root.Cid.Slash, out.Root.PinErrorMsg)
			}
			c, err := cid.Decode(out.Root.Cid.Slash)
			if err != nil {
				return fmt.Errorf("kubo dag/import: bad root in answer: %w", err)
			}
			reported = append(reported, c)
			return nil
		})
	// Stop the CAR writer if the request ended early, and wait for it: it reads the staging
	// store, which is removed when push returns.
	pr.CloseWithError(errors.New("request finished"))
	<-done
	if err != nil {
		return err
	}
	if len(reported) != 1 || !reported[0].Equals(root) {
		return fmt.Errorf("kubo dag/import: daemon reported roots %v, want %s", reported, root)
	}
	return s.namePin(ctx, root)
}

// namePin gives the recursive pin of c the store's name (dag/import cannot name its pins).
func (s *Store) namePin(ctx context.Context, c cid.Cid) error {
	resp, err := s.call(ctx, "pin/add", cidArg(c, "name", s.pinName, "offline", "true"), nil, "")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Pin fetches c from the daemon's peers if needed and pins it under the store's name: the way
// a second node takes a replica. The DAG must be a blob of the frozen profile or another UnixFS
// file; Pin then reads it back through the verifying reader's block checks.
func (s *Store) Pin(ctx context.Context, c cid.Cid) error {
	if err := dagio.CheckCID(c); err != nil {
		return err
	}
	resp, err := s.call(ctx, "pin/add", cidArg(c, "name", s.pinName), nil, "")
	if err != nil {
		return fmt.Errorf("kubo store: pin %s: %w", c, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	err = dagio.Walk(ctx, s.getBlock, c, true, func(cid.Cid, []byte) error { return nil })
	if err != nil {
		return fmt.Errorf("kubo store: pinned %s but it does not verify: %w", c, err)
	}
	return nil
}
