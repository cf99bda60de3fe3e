// Package fhirserve answers FHIR R4 REST reads over what the network shares with one
// identity: the handler behind 'rrec fhir serve'. It runs beside a provider's system, with
// the provider's identity, and turns each read into the SDK call that answers it; reading
// a Binary is an ordinary audited access (a committed request, threshold re-encryptions).
//
// It authenticates no one: whatever reaches its address reads as the provider. Serve it on
// loopback or behind the clinic's own authentication. fhir/SPEC.md §10 lists the routes.
package fhirserve

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Ledger is what the server needs of the SDK; *client.Session has it.
type Ledger interface {
	Identity() identity.Public
	Network() *protocol.Network
	Shared(ctx context.Context) ([]client.Shared, error)
	Get(ctx context.Context, record protocol.ID, w io.Writer, o client.GetOptions, opts ...client.CallOption) (*envelope.Metadata, error)
	Describe(ctx context.Context, record protocol.ID, o client.GetOptions) (*envelope.Metadata, error)
	Audit(ctx context.Context, record protocol.ID) ([]protocol.AuditEntry, error)
}

// Defaults of Config.
const (
	DefaultMaxBinary      = 64 << 20
	DefaultConcurrentGets = 2
)

// Config shapes a Server.
type Config struct {
	// BaseURL is the server's base as its clients reach it, without a trailing slash
	// ("http://127.0.0.1:8080"): every fullUrl and link starts with it. It is never taken
	// from a request's Host header, which the client chooses.
	BaseURL string
	// Purpose is recorded with each Binary read that names none ("": TREAT).
	Purpose string
	// MaxBinary bounds the plaintext of a record the server reads (0: DefaultMaxBinary):
	// it holds the plaintext in memory, since the content type is known only once the
	// record is open. A larger record is refused before any access request is made.
	MaxBinary int64
	// ConcurrentGets bounds the Binary reads in flight (0: DefaultConcurrentGets), and so
	// the memory they hold.
	ConcurrentGets int
	// Logger gets one line per request: method, path, status. No query, no content.
	Logger *slog.Logger
}

// Server is the FHIR read endpoint: an http.Handler.
type Server struct {
	ledger Ledger
	cfg    Config
	gets   chan struct{} // a slot per Binary read in flight
	opened opened
}

// New returns a server answering for ledger's identity.
func New(ledger Ledger, cfg Config) *Server {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Purpose == "" {
		cfg.Purpose = "TREAT"
	}
	if cfg.MaxBinary <= 0 {
		cfg.MaxBinary = DefaultMaxBinary
	}
	if cfg.ConcurrentGets <= 0 {
		cfg.ConcurrentGets = DefaultConcurrentGets
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{ledger: ledger, cfg: cfg, gets: make(chan struct{}, cfg.ConcurrentGets)}
}

// maxQuery bounds the query string: the longest a route needs is one 64-digit id with its
// system and a purpose of at most 256 bytes, escaped.
const maxQuery = 2048

// ServeHTTP routes a FHIR REST read. Only GET and HEAD exist: the endpoint changes nothing
// but the audit log, and a Binary read does that as a side effect of reading.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.cfg.Logger.Info("fhir", "method", r.Method, "path", r.URL.Path, "status", rw.status)
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		writeOutcome(rw, &failure{http.StatusMethodNotAllowed, "not-supported", "this endpoint answers reads only (GET)"})
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		writeOutcome(rw, badRequest("the query is longer than %d bytes", maxQuery))
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		writeOutcome(rw, badRequest("%v", err))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var f *failure
	switch {
	case len(parts) == 1 && parts[0] == "metadata":
		f = s.metadata(rw, q)
	case len(parts) == 1 && parts[0] == "DocumentReference":
		f = s.searchDocuments(rw, r, q)
	case len(parts) == 2 && parts[0] == "DocumentReference":
		f = s.readDocument(rw, r, q, parts[1])
	case len(parts) == 2 && parts[0] == "Binary":
		f = s.readBinary(rw, r, q, parts[1])
	case len(parts) == 1 && parts[0] == "Consent":
		f = s.searchConsents(rw, r, q)
	case len(parts) == 1 && parts[0] == "AuditEvent":
		f = s.searchAuditEvents(rw, r, q)
	default:
		f = &failure{http.StatusNotFound, "not-supported", "no such route: this endpoint serves /metadata, DocumentReference, Binary, Consent and AuditEvent reads"}
	}
	if f != nil {
		writeOutcome(rw, f)
	}
}

// statusWriter remembers the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
