package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newLsCmd() *cobra.Command {
	var (
		cf      clientFlags
		shared  bool
		jsonOut bool
		filters lsFilters
	)
	cmd := &cobra.Command{
		Use:   "ls [--shared] [--json] [--type TYPE] [--code SYSTEM|CODE] [--patient REF] [--since DATE] [--until DATE]",
		Short: "List your records, or the records shared with you",
		Long: `ls lists the records you own, oldest first: id, sealed size, when it was put, how many
nodes hold its ciphertext, and who issued it when someone else wrote it for you ('rrec
inbox'). With --shared it lists the grants made to you instead:
grant, record, owner, purpose and whether the grant is live, revoked or expired.

--type, --code, --patient, --since and --until list the typed records ('rrec put --fhir',
--fhir-attach) that match every one given, with what they are: type, main code, clinical
date, patient, title. What they match is sealed inside each record, so ls opens every
record's header: your own with your key; with --shared, each record with a live grant by an
ordinary access, which the owner sees in its audit log with your --purpose.`,
		Example: `  rrec ls
  rrec ls --shared --json
  rrec ls --type Observation --code 'http://loinc.org|2339-0' --since 2024-01-01
  rrec ls --shared --type Composition --purpose TREAT`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := filters.query()
			if err != nil {
				return err
			}
			if filters.purpose != (purposeFlags{}) && (q == nil || !shared) {
				return errors.New("--purpose says why you open the records shared with you that a filter looks into: use it with --shared and a filter")
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			w := cmd.OutOrStdout()
			if q != nil {
				return listTyped(ctx, s, w, q, shared, jsonOut, filters.purpose)
			}
			if shared {
				return listShared(ctx, s, w, cmd.ErrOrStderr(), jsonOut)
			}
			recs, err := s.Records(ctx)
			if err != nil {
				return explain(err, "record")
			}
			if jsonOut {
				if recs == nil {
					recs = []*protocol.Record{}
				}
				return writeJSON(w, recs)
			}
			book := namesBook(cmd.ErrOrStderr())
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECORD\tSIZE\tPUT\tHEIGHT\tHOLDERS\tISSUED BY")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, size(int64(r.Size)), when(r.Time), r.Height, holders(r), issuedBy(book, r))
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&shared, "shared", false, "list the records shared with you")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	filters.add(cmd)
	return cmd
}

// holders says how many nodes hold a record's blob, when the ledger knows.
// issuedBy names who issued a record into its owner's inbox, and whether the owner has
// accepted it yet; "-" for a record the owner put.
func issuedBy(book *contacts.Book, r *protocol.Record) string {
	if r.Issued == nil {
		return "-"
	}
	who := person(book, r.Issued.Issuer, r.Issued.Issuer.String())
	if !r.Issued.Accepted {
		return who + " (in your inbox)"
	}
	return who
}

func holders(r *protocol.Record) string {
	switch {
	case r.Erased != nil:
		return "erased"
	case r.Replicas > 0:
		return fmt.Sprintf("%d/%d", len(r.Holders), r.Replicas)
	case len(r.Holders) > 0:
		return fmt.Sprint(len(r.Holders))
	}
	return "-"
}

func newGrantsCmd() *cobra.Command {
	var (
		cf      clientFlags
		jsonOut bool
		fhirOut bool
	)
	cmd := &cobra.Command{
		Use:   "grants RECORD [--json | --fhir]",
		Short: "List the grants of one of your records, and what became of each",
		Long: `grants lists every grant of RECORD, oldest first: who it is to, why, until when, whether
it is live, revoked or expired, and — once it ended — how many of its nodes confirmed on the
ledger, each signing with its own key, that they destroyed their key fragment. With --fhir
each grant is a FHIR R4 Consent (active, or inactive once revoked or expired) for a
provider's system to read.`,
		Example: `  rrec grants $REC
  rrec grants $REC --json
  rrec grants $REC --fhir > consents.json   # a FHIR R4 Bundle of Consent resources`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				gs, err := s.Grants(ctx, rec)
				if err != nil {
					return explain(err, "record")
				}
				if jsonOut {
					if gs == nil {
						gs = []*protocol.GrantState{}
					}
					return writeJSON(cmd.OutOrStdout(), gs)
				}
				st, err := s.Status(ctx)
				if err != nil {
					return explain(err, "record")
				}
				if fhirOut {
					return printConsents(ctx, cmd.OutOrStdout(), s, rec, gs, time.Unix(0, st.Time))
				}
				book := namesBook(cmd.ErrOrStderr())
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GRANT\tTO\tPURPOSE\tUNTIL\tSTATUS")
				for _, g := range gs {
					purpose, until := purposeName(g.Purpose), "-"
					if g.NotAfter != 0 {
						until = when(g.NotAfter)
					}
					status := "live"
					if err := g.LiveAt(st.Time); err != nil {
						status = sharedStatus(client.Classify(err))
					}
					to := person(book, g.RecipientSig, client.RecipientString(g))
					if g.By != nil { // made by a caregiver for the owner
						to += ", by " + person(book, *g.By, g.By.String())
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.ID, to, purpose, until,
						status+fragments(g, status != "live" && status != "not yet valid"))
				}
				return tw.Flush()
			})
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().BoolVar(&fhirOut, "fhir", false, "print the grants as a FHIR R4 Bundle of Consent resources")
	cmd.MarkFlagsMutuallyExclusive("json", "fhir")
	return cmd
}

func newAuditCmd() *cobra.Command {
	var (
		cf      clientFlags
		jsonOut bool
		fhirOut bool
	)
	cmd := &cobra.Command{
		Use:   "audit RECORD [--json | --fhir]",
		Short: "Show a record's audit log: puts, grants, accesses, revocations, expiries",
		Long: `audit prints every event of RECORD as the ledger committed it, oldest first, with the
block height and block time: the put, each grant, each access request, each revocation,
each expiry, the erasure, each node's report that it holds the ciphertext (holds), and each
grant node's report that it destroyed its key fragment once the grant ended (destroyed).
Every page is confirmed by f+1 nodes, so no f lying nodes can hide an access. Anyone can
read a record's audit log. With --fhir the log is a FHIR R4 Bundle of AuditEvent resources,
in the shapes of IHE's Basic Audit Log Patterns.`,
		Example: `  rrec audit $REC
  rrec audit $REC --json | jq '.[] | select(.kind=="request")'
  rrec audit $REC --fhir > audit-events.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := parseID("record", args[0])
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			log, err := s.Audit(ctx, rec)
			if err != nil {
				return explain(err, "record")
			}
			if jsonOut {
				if log == nil {
					log = []protocol.AuditEntry{}
				}
				return writeJSON(cmd.OutOrStdout(), log)
			}
			if fhirOut {
				return printAuditEvents(ctx, cmd.OutOrStdout(), s, rec, log)
			}
			me := protocol.PubKeyOf(s.Identity().Signing)
			names := map[protocol.PubKey]string{}
			// People by the name the user knows them by, else by the identity the record was
			// shared with (only the owner can list a record's grants).
			book := namesBook(cmd.ErrOrStderr())
			if gs, err := s.Grants(ctx, rec); err == nil {
				for _, g := range gs {
					names[g.RecipientSig] = person(book, g.RecipientSig, client.RecipientString(g))
				}
			}
			for _, e := range log {
				for _, k := range []*protocol.PubKey{e.Actor, e.For} {
					if k != nil && names[*k] == "" {
						if n, ok := book.NameOf(*k); ok {
							names[*k] = n
						}
					}
				}
			}
			names[me] = "you"
			if r, err := s.Record(ctx, rec); err == nil {
				names[r.Owner] = "owner"
				if r.Owner == me {
					names[me] = "owner (you)"
				}
			}
			for _, n := range s.Network().Nodes {
				names[n.ProxyKey] = n.Name
			}
			nameClinicians(ctx, s, log, names)
			printAudit(cmd.OutOrStdout(), log, func(k protocol.PubKey) string { return names[k] })
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().BoolVar(&fhirOut, "fhir", false, "print the log as a FHIR R4 Bundle of AuditEvent resources")
	cmd.MarkFlagsMutuallyExclusive("json", "fhir")
	return cmd
}

// printAudit prints the log as a table; name says who a key is ("" when unknown: the key is
// shown).
func printAudit(w io.Writer, log []protocol.AuditEntry, name func(protocol.PubKey) string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HEIGHT\tTIME\tEVENT\tGRANT\tBY\tPURPOSE")
	for _, e := range log {
		grant, actor := "-", "-"
		if e.Grant != nil {
			grant = short(e.Grant.String())
		}
		who := func(k protocol.PubKey) string {
			if n := name(k); n != "" {
				return n
			}
			return short(k.String())
		}
		if e.Actor != nil {
			actor = who(*e.Actor)
		}
		if e.For != nil { // a caregiver acted for the owner
			actor += " for " + who(*e.For)
		}
		purpose := purposeName(e.Purpose)
		if e.CoSigner != nil { // an emergency read: the reason is free text
			actor += " with " + who(*e.CoSigner)
			purpose = strconv.Quote(e.Purpose)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Height, when(e.Time), e.Kind, grant, actor, purpose)
	}
	tw.Flush()
}

// nameClinicians names the clinicians of the log's emergency entries as their services
// registered them, where the user's contacts do not.
func nameClinicians(ctx context.Context, s *client.Session, log []protocol.AuditEntry, names map[protocol.PubKey]string) {
	if !slices.ContainsFunc(log, func(e protocol.AuditEntry) bool { return e.CoSigner != nil }) {
		return
	}
	svcs, err := s.Services(ctx)
	if err != nil {
		return
	}
	for _, svc := range svcs {
		for _, c := range svc.Clinicians {
			if names[c.Key] == "" {
				names[c.Key] = c.Name + " (" + svc.Name + ")"
			}
		}
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func when(unixNano int64) string {
	return time.Unix(0, unixNano).UTC().Format("2006-01-02 15:04:05.000Z")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
