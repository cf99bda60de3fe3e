package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/fhir/fhirserve"
)

func newFHIRCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fhir",
		Short: "Speak HL7 FHIR R4: serve what is shared with you to a provider's system",
		Long: `fhir connects a provider's FHIR R4 system to the records patients share with you.
'rrec fhir serve' answers FHIR REST reads (DocumentReference, Binary, Consent, AuditEvent)
over what your identity may read, each content read an audited access on the ledger. To put FHIR records of your own, use
'rrec put --fhir'.`,
		Example: `  rrec fhir serve -i clinic.key --network network.json --listen 127.0.0.1:8080`,
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(newFHIRServeCmd())
	return cmd
}

func newFHIRServeCmd() *cobra.Command {
	var (
		cf          clientFlags
		listen      string
		allowRemote bool
		baseURL     string
		purpose     string
		maxBinary   int64
	)
	cmd := &cobra.Command{
		Use:   "serve [-i IDENTITY] [--network FILE] [--listen 127.0.0.1:8080]",
		Short: "Answer FHIR R4 REST reads over the records shared with your identity",
		Long: `serve answers FHIR R4 REST reads, as the identity given (a provider's), over what patients
shared with it: a clinic's system reads shared records as DocumentReferences and Binaries,
the grants as Consents and a record's audit log as AuditEvents.

  GET /metadata                              the CapabilityStatement
  GET /DocumentReference[?patient=urn:rrec:signing-key|KEY]
                                             the records you may read, as a searchset;
                                             also type=SYSTEM|CODE (a typed record's
                                             code), date= (put) and period= (clinical
                                             date), with prefixes ge, le, gt, lt, eq, ne
  GET /DocumentReference/RECORD              one of them
  GET /Binary/RECORD[?purpose=TREAT]         its content, typed as the patient sealed it
  GET /Consent[?patient=…]                   every grant made to you, live or not
  GET /AuditEvent?entity=DocumentReference/RECORD
                                             the record's audit log

Searches are paged: _count=N entries a page (default 50), and each page links the next.

Every Binary read is an ordinary audited access, as 'rrec get' makes: it commits an access
request, with the purpose given (default --purpose), that the patient sees in the log. So
is the first description of each record, which opens its sealed header for its media type
and, for a typed record ('rrec put --fhir'), its type, code, dates and patient; the server
remembers those while it runs. A refusal is an OperationOutcome: 403 with the reason
(revoked, expired, not yet valid, erased), 404 for a record not shared with you, 400 for
bad parameters.

The server authenticates no one: whatever can reach its address reads, as you, everything
shared with you, and makes audited accesses in your name. It listens on loopback only;
serve it further (--allow-remote) only behind the clinic's own authentication, and give
--base-url as its clients reach it. Stop it with Ctrl-C.`,
		Example: `  rrec fhir serve -i clinic.key --network network.json
  curl -s 'http://127.0.0.1:8080/DocumentReference?patient=urn:rrec:signing-key|02ab…'
  curl -s 'http://127.0.0.1:8080/DocumentReference?type=http://loinc.org|18842-5&_count=10'
  curl -s -o summary.pdf 'http://127.0.0.1:8080/Binary/RECORD?purpose=TREAT'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListen(listen, allowRemote); err != nil {
				return err
			}
			if p := fhir.ParsePurpose(purpose); p.String() == "" || len(p.String()) > 256 {
				return fmt.Errorf("--purpose %q: want a PurposeOfUse code such as TREAT, or text of at most 256 bytes", purpose)
			}
			if baseURL != "" {
				if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
					return fmt.Errorf("--base-url %q: want the URL clients reach the server at, such as https://fhir.clinic.example", baseURL)
				}
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			if baseURL == "" {
				baseURL = "http://" + l.Addr().String()
			}
			srv := &http.Server{
				Handler: fhirserve.New(s, fhirserve.Config{
					BaseURL:   baseURL,
					Purpose:   purpose,
					MaxBinary: maxBinary,
					Logger:    slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
				}),
				ReadHeaderTimeout: 10 * time.Second,
				// Reads take no body; a URL and headers fit in this.
				MaxHeaderBytes: 16 << 10,
				IdleTimeout:    time.Minute,
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			fmt.Fprintf(cmd.OutOrStdout(), "serving FHIR R4 reads for %s at %s\n", s.Identity(), baseURL)
			fmt.Fprintln(cmd.ErrOrStderr(), "unauthenticated: whatever reaches this address reads as this identity; serving until Ctrl-C")
			return untilDone(ctx, srv, served)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "serve on this `ADDRESS` (loopback unless --allow-remote; port 0: any free port)")
	cmd.Flags().BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback --listen: only behind the clinic's own authentication")
	cmd.Flags().StringVar(&baseURL, "base-url", "", "the `URL` clients reach the server at, for fullUrl and links (default http://ADDRESS)")
	cmd.Flags().StringVar(&purpose, "purpose", "TREAT", "purpose recorded with a Binary read that names none (a PurposeOfUse `CODE` or text)")
	cmd.Flags().Int64Var(&maxBinary, "max-binary", fhirserve.DefaultMaxBinary, "largest sealed record a Binary read opens, in `BYTES` (it is held in memory)")
	return cmd
}

// checkListen refuses to serve unauthenticated reads beyond this machine unless asked to.
func checkListen(listen string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:8080", listen)
	}
	if allowRemote {
		return nil
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %q: not a loopback address; the server authenticates no one, so serve beyond this machine only behind your own authentication, with --allow-remote", listen)
}
