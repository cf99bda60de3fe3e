package blobs

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// IdleTimeout is how long an upload or download may make no progress
// before the node drops it. The node's server has short whole-request
// deadlines for its small JSON routes; these routes replace them with a
// deadline that moves forward while bytes flow.
const IdleTimeout = 30 * time.Second

// maxCIDText bounds a CID in a path (the ledger's own bound).
const maxCIDText = 128

// Handler serves the blob routes (SPEC.md §3):
//
//	POST /v1/blobs             signed upload, answers {"cid","size"}
//	GET  /v1/blobs/{cid}       the blob, or one byte range (Range: bytes=…)
//	GET  /v1/blobs/{cid}/car   the blob's DAG as a CARv1
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.RouteUpload, s.upload)
	mux.HandleFunc(protocol.RouteBlob, s.get)
	mux.HandleFunc(protocol.RouteBlobCAR, s.car)
	return mux
}

// progress keeps moving the connection's deadlines while bytes flow.
type progress struct {
	rc   *http.ResponseController
	last time.Time
}

func newProgress(w http.ResponseWriter) *progress {
	p := &progress{rc: http.NewResponseController(w)}
	p.touch()
	return p
}

func (p *progress) touch() {
	now := time.Now()
	if now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	_ = p.rc.SetReadDeadline(now.Add(IdleTimeout))
	_ = p.rc.SetWriteDeadline(now.Add(IdleTimeout))
}

type progressReader struct {
	r io.Reader
	p *progress
	n int64
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.n += int64(n)
	r.p.touch()
	return n, err
}

type progressWriter struct {
	w io.Writer
	p *progress
	n int64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.p.touch()
	return n, err
}

func (s *Service) upload(w http.ResponseWriter, r *http.Request) {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrUnavailable, "ledger state unavailable"))
		return
	}
	chainID := snap.ChainID
	snap.Release()
	auth, err := protocol.ParseUploadAuth(r.Header, chainID, s.self, s.cfg.Now())
	if err != nil {
		protocol.WriteError(w, err)
		return
	}
	if auth.Size > s.cfg.MaxUpload {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrTooLarge, "upload of %d bytes exceeds this node's limit of %d", auth.Size, s.cfg.MaxUpload))
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != auth.Size {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "Content-Length %d differs from the signed size %d", r.ContentLength, auth.Size))
		return
	}
	s.mu.Lock()
	if _, used := s.seen[auth.Sig]; used {
		s.mu.Unlock()
		protocol.WriteError(w, protocol.Errorf(protocol.ErrBadSignature, "this upload signature was already used"))
		return
	}
	if p := s.pendingBytesLocked(auth.Signer); p+auth.Size > s.cfg.MaxPending {
		s.mu.Unlock()
		protocol.WriteError(w, protocol.Errorf(protocol.ErrQuota, "account has %d bytes uploaded but not yet in a committed record; limit %d", p, s.cfg.MaxPending))
		return
	}
	s.seen[auth.Sig] = auth.Time
	s.mu.Unlock()

	pr := &progressReader{r: http.MaxBytesReader(w, r.Body, auth.Size+1), p: newProgress(w)}
	c, n, err := s.cfg.Store.Put(r.Context(), pr)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "body is longer than the signed size %d", auth.Size))
		case errors.Is(err, store.ErrTooLarge):
			protocol.WriteError(w, protocol.Errorf(protocol.ErrTooLarge, "blob exceeds the store's limit"))
		default:
			s.log.Warn("blobs: upload failed", "err", err)
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "upload did not complete"))
		}
		return
	}
	if n != auth.Size {
		if ids, _, err := s.recordsWith(c); err == nil && len(ids) == 0 && !s.hasMarker(c) {
			_ = s.cfg.Store.Delete(r.Context(), c)
		}
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "body has %d bytes, signed size is %d", n, auth.Size))
		return
	}
	if ids, _, err := s.recordsWith(c); err != nil || len(ids) == 0 {
		if err := s.addMarker(c, &marker{Signer: auth.Signer, Size: n, Time: s.cfg.Now().UnixNano()}); err != nil {
			s.log.Error("blobs: upload marker", "err", err)
			protocol.WriteError(w, protocol.Errorf(protocol.ErrInternal, "could not record the upload"))
			return
		}
	} else {
		s.mu.Lock() // a record already names this blob: make sure it is reported
		for _, id := range ids {
			s.sync[id] = true
		}
		s.mu.Unlock()
		s.poke()
	}
	s.log.Debug("blobs: upload stored", "cid", c.String(), "size", n, "signer", auth.Signer.String())
	protocol.WriteJSON(w, http.StatusCreated, protocol.UploadAnswer{CID: c.String(), Size: n})
}

// target parses the path CID and refuses erased blobs.
func (s *Service) target(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	text := r.PathValue("cid")
	if len(text) > maxCIDText {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "CID longer than %d bytes", maxCIDText))
		return cid.Undef, false
	}
	c, err := cid.Decode(text)
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "not a CID"))
		return cid.Undef, false
	}
	if _, erased, err := s.recordsWith(c); err == nil && erased {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRecordErased, "every record with this blob was erased"))
		return cid.Undef, false
	}
	return c, true
}

func (s *Service) storeError(w http.ResponseWriter, c cid.Cid, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrNotFound, "this node does not hold %s", c))
	case errors.Is(err, store.ErrRange):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRange, "range outside the blob"))
	case errors.Is(err, store.ErrCorrupt):
		s.reportCorrupt(c)
		protocol.WriteError(w, protocol.Errorf(protocol.ErrCorrupt, "a block of %s failed verification on this node; repair is queued", c))
	case errors.Is(err, store.ErrUnsupported):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "unsupported CID"))
	default:
		s.log.Warn("blobs: store read", "cid", c.String(), "err", err)
		protocol.WriteError(w, protocol.Errorf(protocol.ErrUnavailable, "store unavailable"))
	}
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	c, ok := s.target(w, r)
	if !ok {
		return
	}
	size, err := s.cfg.Store.Size(r.Context(), c)
	if err != nil {
		s.storeError(w, c, err)
		return
	}
	off, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRange, "%v", err))
		return
	}
	rc, err := s.cfg.Store.GetRange(r.Context(), c, off, length)
	if err != nil {
		s.storeError(w, c, err)
		return
	}
	defer rc.Close()
	// Read the first block before answering, so that a damaged first block
	// is a clean error the client can fall back on.
	first := make([]byte, min(length, 256<<10))
	k, err := io.ReadFull(rc, first)
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) || int64(k) < min(length, int64(len(first))) {
		if err == nil {
			err = store.ErrCorrupt
		}
		s.storeError(w, c, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Etag", `"`+c.String()+`"`)
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size))
	}
	w.WriteHeader(status)
	pw := &progressWriter{w: w, p: newProgress(w)}
	if _, err := pw.Write(first[:k]); err != nil {
		return
	}
	if _, err := io.Copy(pw, rc); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			s.reportCorrupt(c)
		}
		s.log.Warn("blobs: read aborted", "cid", c.String(), "sent", pw.n+int64(0), "err", err)
		panic(http.ErrAbortHandler) // the client must see a broken response, not a short one
	}
}

func (s *Service) car(w http.ResponseWriter, r *http.Request) {
	c, ok := s.target(w, r)
	if !ok {
		return
	}
	if has, err := s.cfg.Store.Has(r.Context(), c); err != nil || !has {
		if err == nil {
			err = store.ErrNotFound
		}
		s.storeError(w, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
	pw := &progressWriter{w: w, p: newProgress(w)}
	if err := s.cfg.Store.ExportCAR(r.Context(), c, pw); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			s.reportCorrupt(c)
		}
		if pw.n == 0 {
			s.storeError(w, c, err)
			return
		}
		s.log.Warn("blobs: CAR export aborted", "cid", c.String(), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// parseRange understands one range of the forms a-b, a- and -n; anything
// else (several ranges, other units) is served as the whole blob, which
// HTTP allows.
func parseRange(h string, size int64) (off, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	switch {
	case a == "":
		n, e := strconv.ParseInt(b, 10, 64)
		if e != nil || n <= 0 {
			return 0, 0, false, errors.New("bad suffix range")
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		start, e := strconv.ParseInt(a, 10, 64)
		if e != nil || start < 0 || start >= size {
			return 0, 0, false, errors.New("range start outside the blob")
		}
		end := size - 1
		if b != "" {
			if end, e = strconv.ParseInt(b, 10, 64); e != nil || end < start {
				return 0, 0, false, errors.New("bad range end")
			}
			end = min(end, size-1)
		}
		return start, end - start + 1, true, nil
	}
}
