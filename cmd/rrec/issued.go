package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/issued"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// maxIssueFile bounds what `rrec issue` reads into memory to sign: an issued document is a
// summary, a certificate, a report, not a scan.
const maxIssueFile = 64 << 20

func newIssueCmd() *cobra.Command {
	var cf clientFlags
	var to, name, typ string
	cmd := &cobra.Command{
		Use:   "issue --to SUBJECT FILE [--name NAME] [--type MEDIA_TYPE]",
		Short: "Issue a signed record into someone's inbox: theirs to keep and share, not yours to read",
		Long: `issue signs FILE as an issued document for SUBJECT (your signature, the subject, the time,
the content's hash), seals it under one of the one-time keys the subject opened its inbox with,
uploads it and commits it. The record belongs to the subject: you keep no key that opens it and
cannot grant, revoke or erase it. It waits in the subject's inbox until the subject accepts or
refuses it. Prints the record id.`,
		Example: `  rrec issue -i platform.key --to "Sam Driver" summary-2026-01.json --type application/json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("issue needs --to SUBJECT (an rrec1... string or a contact's name)")
			}
			subject, err := resolvePerson(to, "--to")
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			var content bytes.Buffer
			if n, err := content.ReadFrom(io.LimitReader(f, maxIssueFile+1)); err != nil {
				return err
			} else if n > maxIssueFile {
				return fmt.Errorf("%s is larger than %d bytes: an issued document is signed in memory", args[0], maxIssueFile)
			}
			if name == "" {
				name = filepath.Base(args[0])
			}
			if typ == "" {
				if typ = mime.TypeByExtension(filepath.Ext(name)); typ == "" {
					typ = "application/octet-stream"
				}
				typ, _, _ = mime.ParseMediaType(typ)
			}
			ctx, s, done, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			id, err := s.Issue(ctx, subject, name, typ, content.Bytes())
			if err != nil {
				return explain(err, "record")
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the subject: an rrec1... public identity or a contact's name")
	cmd.Flags().StringVar(&name, "name", "", "the document's file name (default: FILE's)")
	cmd.Flags().StringVar(&typ, "type", "", "the content's media type (default: from the name's extension)")
	cf.add(cmd)
	return cmd
}

func newInboxCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "List the issued records waiting for you to accept or refuse them",
		Long: `inbox lists the records others issued to you (a platform's work summary, a lab's result)
that wait for your decision: 'rrec accept' keeps one (then you may share it like your own),
'rrec refuse' erases it. Nobody can write into your inbox until you open slots for it
('rrec inbox open'); each slot takes one record, counted against your allowance.`,
		Example: `  rrec inbox open --slots 4
  rrec inbox
  rrec accept $REC`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, s, done, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			recs, err := s.Inbox(ctx)
			if err != nil {
				return explain(err, "inbox")
			}
			book := namesBook(cmd.ErrOrStderr())
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RECORD\tISSUER\tISSUED\tSIZE")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.ID, person(book, r.Issued.Issuer, r.Issued.Issuer.String()),
					time.Unix(0, r.Time).UTC().Format("2006-01-02 15:04:05Z"), r.Size)
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	var (
		slots int
		from  string
	)
	open := &cobra.Command{
		Use:   "open [--slots N] [--from ISSUER]",
		Short: "Let others issue records to you: open N one-time slots of your inbox",
		Long: `open publishes N one-time keys (at most 64 open at once). Each lets one issuer write one
record into your space, counted against your allowance; you accept or refuse each.

With --from only that issuer (a contact's name or rrec1...) may write into the new slots.
Without it any account of the network may, and a stranger could use them all up with
records you then refuse: open slots for anyone only while you expect a record, or prefer
--from when you know who will issue it.`,
		Example: `  rrec inbox open --slots 2 --from 'FastFood Deliveries'
  rrec inbox open --slots 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, s, done, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			var issuer *identity.Public
			if from != "" {
				pub, err := resolvePerson(from, "--from")
				if err != nil {
					return err
				}
				issuer = &pub
			}
			in, err := s.OpenInbox(ctx, slots, issuer)
			if err != nil {
				return explain(err, "inbox")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d slots open (next slot %d)\n", in.Open, in.Next)
			return nil
		},
	}
	open.Flags().IntVar(&slots, "slots", 8, "how many slots to open")
	open.Flags().StringVar(&from, "from", "", "open the slots to this issuer alone: a contact's name or an rrec1... identity")
	cf.add(open)
	cmd.AddCommand(open)
	return cmd
}

func newAcceptCmd(refuse bool) *cobra.Command {
	var cf clientFlags
	use, short := "accept RECORD", "Accept an issued record from your inbox: from then on you may share it"
	if refuse {
		use, short = "refuse RECORD", "Refuse an issued record from your inbox: it is erased everywhere"
	}
	long := `accept takes RECORD, issued to you, out of your inbox. It is then yours like a record you
put: 'rrec grant' shares it, and whoever you share it with can check its issuer with 'rrec
verify'. The issuer keeps no access unless you grant it.`
	example := "  rrec accept $REC\n  rrec grant $REC --to 'New Platform' --for 720h"
	if refuse {
		long = `refuse erases RECORD, issued to you, from every node: the ledger keeps a tombstone, the
slot it used is spent, and the issuer is not told beyond what the ledger shows.`
		example = "  rrec refuse $REC"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				do, what := s.Accept, "accepted"
				if refuse {
					do, what = s.Refuse, "refused"
				}
				if err := do(ctx, rec); err != nil {
					return explain(err, "record")
				}
				fmt.Fprintln(cmd.ErrOrStderr(), what, rec)
				return nil
			})
		},
	}
	cf.add(cmd)
	return cmd
}

func newVerifyCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "verify FILE [-o CONTENT]",
		Short: "Check an issued document: who issued it, for whom, when, and that it is unchanged",
		Long: `verify checks FILE, an issued document ('rrec get' of an issued record writes one): the
issuer's signature over the subject, time, name, type and the content's SHA-256, and the
content against that hash. It prints the issuer and subject (by contact name when you know
them), the time and the content's size, and exits non-zero with the reason when anything
does not hold. -o writes the content alone, only once it verified. It needs no network:
the signature is the issuer's own, not the ledger's.`,
		Example: `  rrec verify summary.issued
  rrec verify summary.issued -o summary.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			// The content is streamed to a pending file that takes its name only once the
			// whole document verified: no size of document is held in memory, and nothing
			// unverified is left under the name asked for.
			content := &countingWriter{w: io.Discard}
			var pending *renameio.PendingFile
			if out != "" {
				if pending, err = renameio.NewPendingFile(out, renameio.WithPermissions(0o600), renameio.IgnoreUmask()); err != nil {
					return err
				}
				defer pending.Cleanup()
				content.w = pending
			}
			h, err := issued.Verify(f, content)
			if err != nil {
				return fmt.Errorf("%s does not verify: %w", args[0], err)
			}
			if pending != nil {
				if err := pending.CloseAtomicallyReplace(); err != nil {
					return err
				}
			}
			book := namesBook(cmd.ErrOrStderr())
			who := func(k protocol.PubKey, full string) string {
				if name, ok := book.NameOf(k); ok {
					return name + " (" + full + ")"
				}
				return full
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "issuer:  %s\n", who(protocol.PubKeyOf(h.Issuer.Signing), h.Issuer.String()))
			fmt.Fprintf(w, "subject: %s\n", who(protocol.PubKeyOf(h.Subject.Signing), h.Subject.String()))
			fmt.Fprintf(w, "issued:  %s\n", h.Issued.Format(time.RFC3339))
			fmt.Fprintf(w, "content: %s, %s, %d bytes, unchanged\n", h.Name, h.MediaType, content.n)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the verified content to this file")
	return cmd
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
