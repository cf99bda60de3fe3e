package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/cidsum"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Errors of the blob functions.
var (
	// ErrBlobMismatch: the bytes a node stored or served do not have the
	// CID computed locally. Discard what was written.
	ErrBlobMismatch = errors.New("client: blob does not match its CID")
	// ErrBlobErased: the node says every record with this blob was erased.
	ErrBlobErased = errors.New("client: blob erased")
	// ErrBlobUnavailable: no node could serve the blob.
	ErrBlobUnavailable = errors.New("client: no node could serve the blob")
)

// MaxBlobRange bounds FetchBlobRange, which returns the bytes in memory.
const MaxBlobRange = 64 << 20

// blobHTTP has no overall timeout: blobs take as long as they take; a
// stalled node is cut off by the header timeout or by ctx.
var blobHTTP = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 4}}

func (c *API) blobClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return blobHTTP
}

// UploadBlob streams the sealed blob in r (size bytes) to node, signed by
// the account's signer for this node and chain. It computes the CID
// locally first and fails with ErrBlobMismatch if the node answers another.
func (c *API) UploadBlob(ctx context.Context, node protocol.Node, chainID string, signer *umbral.Signer, r io.ReaderAt, size int64) (cid.Cid, error) {
	want, err := blobCID(r, size)
	if err != nil {
		return cid.Undef, err
	}
	return c.uploadAs(ctx, node, chainID, signer, r, size, want)
}

// blobCID computes the CID of the size bytes in r.
func blobCID(r io.ReaderAt, size int64) (cid.Cid, error) {
	want, n, err := cidsum.Sum(io.NewSectionReader(r, 0, size))
	if err != nil {
		return cid.Undef, fmt.Errorf("client: computing the blob's CID: %w", err)
	}
	if n != size {
		return cid.Undef, fmt.Errorf("client: blob is %d bytes, not %d", n, size)
	}
	return want, nil
}

// uploadAs uploads a blob whose CID is known to be want.
func (c *API) uploadAs(ctx context.Context, node protocol.Node, chainID string, signer *umbral.Signer, r io.ReaderAt, size int64, want cid.Cid) (cid.Cid, error) {
	auth, err := protocol.SignUpload(signer, chainID, node.ProxyKey, size, c.now())
	if err != nil {
		return cid.Undef, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, node.URL()+"/v1/blobs", io.NewSectionReader(r, 0, size))
	if err != nil {
		return cid.Undef, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	auth.SetHeaders(req.Header)
	resp, err := c.blobClient().Do(req)
	if err != nil {
		return cid.Undef, fmt.Errorf("client: upload to %s: %w", node.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		if wait, ok := uploadRetryAfter(resp); ok {
			return cid.Undef, &waitError{wait: wait, err: blobError(resp)}
		}
		return cid.Undef, blobError(resp)
	}
	var ans protocol.UploadAnswer
	if err := protocol.ReadAnswer(resp, maxAnswer, &ans); err != nil {
		return cid.Undef, err
	}
	got, err := cid.Decode(ans.CID)
	if err != nil || !got.Equals(want) || ans.Size != size {
		return cid.Undef, fmt.Errorf("%w: node stored %q (%d bytes), local CID is %s", ErrBlobMismatch, ans.CID, ans.Size, want)
	}
	return want, nil
}

// maxUploadWait bounds how long an upload waits for a node that said when to come back (a
// self-enrolled account's byte pace, a node's transfers all taken): longer, and the
// caller had better hear that the network is busy.
const maxUploadWait = time.Minute

// waitError is a refusal that named when to try again.
type waitError struct {
	wait time.Duration
	err  error
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// uploadRetryAfter is the wait a 429 or 503 answer to an upload names, if it names one.
func uploadRetryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// blobError turns a non-2xx answer into an error: the node's *protocol.Error, also
// matching ErrBlobErased when the record was erased.
func blobError(resp *http.Response) error {
	err := protocol.ReadAnswer(resp, maxAnswer, nil)
	if errors.Is(err, protocol.ErrRecordErased) {
		return fmt.Errorf("%w: %w", ErrBlobErased, err)
	}
	return err
}

// FetchBlob writes the blob to w, trying nodes in order. If a node fails
// part-way, the next one is asked for the rest (HTTP Range), so nothing
// is fetched twice. The CID of everything written is computed as it
// streams; a mismatch at the end is ErrBlobMismatch, and then w holds
// bytes that must be discarded. Put the nodes that hold the blob first
// (HoldersFirst).
func (c *API) FetchBlob(ctx context.Context, nodes []protocol.Node, want cid.Cid, w io.Writer) error {
	_, err := c.fetchBlob(ctx, nodes, want, w)
	return err
}

// fetchBlob is FetchBlob that also says which nodes served the bytes written.
func (c *API) fetchBlob(ctx context.Context, nodes []protocol.Node, want cid.Cid, w io.Writer) (served []int, err error) {
	pr, pw := io.Pipe()
	type result struct {
		c   cid.Cid
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, _, err := cidsum.Sum(pr)
		pr.CloseWithError(err)
		done <- result{got, err}
	}()
	out := io.MultiWriter(w, pw)
	var off int64
	var errs []error
	ok := false
	for i, n := range nodes {
		k, err := c.fetchFrom(ctx, n, want, off, out)
		off += k
		if k > 0 {
			served = append(served, i)
		}
		if err == nil {
			ok = true
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		if errors.Is(err, ErrBlobErased) || ctx.Err() != nil {
			break
		}
	}
	if !ok {
		pw.CloseWithError(ErrBlobUnavailable)
		<-done
		err := errors.Join(errs...)
		if errors.Is(err, ErrBlobErased) {
			return served, err
		}
		return served, fmt.Errorf("%w: %w", ErrBlobUnavailable, err)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		return served, r.err
	}
	if !r.c.Equals(want) {
		return served, fmt.Errorf("%w: received bytes have CID %s, want %s", ErrBlobMismatch, r.c, want)
	}
	return served, nil
}

// fetchFrom copies the blob from offset off; it returns how many bytes it wrote.
func (c *API) fetchFrom(ctx context.Context, n protocol.Node, want cid.Cid, off int64, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/v1/blobs/"+want.String(), nil)
	if err != nil {
		return 0, err
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := c.blobClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case off == 0 && resp.StatusCode == http.StatusOK:
	case off > 0 && resp.StatusCode == http.StatusPartialContent:
	case off > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, nil // the previous node sent everything but the end of the stream
	case resp.StatusCode/100 == 2:
		return 0, fmt.Errorf("%w: HTTP %d for offset %d", ErrNodeAnswer, resp.StatusCode, off)
	default:
		return 0, blobError(resp)
	}
	k, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && k != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

// FetchBlobRange returns length bytes of the blob from offset off (at most
// MaxBlobRange), from the first node that serves them. The node verifies
// every block it reads; a range cannot be checked against the root CID
// without the blocks above it, so here the client trusts the node's check.
func (c *API) FetchBlobRange(ctx context.Context, nodes []protocol.Node, want cid.Cid, off, length int64) ([]byte, error) {
	if off < 0 || length <= 0 || length > MaxBlobRange {
		return nil, fmt.Errorf("client: range length must be 1..%d", MaxBlobRange)
	}
	var errs []error
	for _, n := range nodes {
		b, err := c.rangeFrom(ctx, n, want, off, length)
		if err == nil {
			return b, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		if errors.Is(err, ErrBlobErased) || errors.Is(err, store.ErrRange) || ctx.Err() != nil {
			break
		}
	}
	err := errors.Join(errs...)
	if errors.Is(err, ErrBlobErased) || errors.Is(err, store.ErrRange) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %w", ErrBlobUnavailable, err)
}

func (c *API) rangeFrom(ctx context.Context, n protocol.Node, want cid.Cid, off, length int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/v1/blobs/"+want.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	resp, err := c.blobClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return nil, store.ErrRange
	}
	if resp.StatusCode != http.StatusPartialContent {
		if resp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("%w: HTTP %d for a range", ErrNodeAnswer, resp.StatusCode)
		}
		return nil, blobError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, length+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > length || (resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength) {
		return nil, fmt.Errorf("%w: range answer of %d bytes", ErrNodeAnswer, len(b))
	}
	return b, nil
}

// HoldersFirst orders the registry for fetching a record's blob: the nodes that reported
// holding it first (by registry position, as in Record.Holders), then the others.
func HoldersFirst(rec *protocol.Record, registry []protocol.Node) []protocol.Node {
	out := make([]protocol.Node, 0, len(registry))
	for _, i := range holdersFirstOrder(rec, len(registry)) {
		out = append(out, registry[i])
	}
	return out
}

// holdersFirstOrder is HoldersFirst as registry positions.
func holdersFirstOrder(rec *protocol.Record, n int) []int {
	out := make([]int, 0, n)
	for _, first := range []bool{true, false} {
		for i := range n {
			if slices.Contains(rec.Holders, i) == first {
				out = append(out, i)
			}
		}
	}
	return out
}
