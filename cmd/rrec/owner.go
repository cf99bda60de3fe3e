package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newPutCmd() *cobra.Command {
	var (
		cf        clientFlags
		mediaType string
		typed     typedPut
	)
	cmd := &cobra.Command{
		Use:   "put FILE [--fhir | --fhir-attach --title TEXT [--code SYSTEM|CODE] [--date DATE] [--patient REF]]",
		Short: "Seal a file, store it on the network and print its record id",
		Long: `put seals FILE on this machine under a key of its own (the file's name, size and
time travel inside, encrypted), uploads the ciphertext, and commits the record to the
ledger under your identity. It prints the record id once the record is committed.

A typed record says what medical content it is, sealed with it, so that 'rrec ls' (and
'rrec fhir serve' for a provider) can find it by type, code, date and patient; the
ledger and the nodes see none of it.

  --fhir          FILE is a FHIR R4 resource or Bundle in JSON. It is validated as R4
                  first (a refusal names each problem, and nothing is put); its resource
                  type, main code (LOINC or SNOMED CT first; a Bundle's Composition, else
                  its first entry), clinical date and patient reference are sealed with it.
  --fhir-attach   FILE is a document (a PDF, a DICOM study, a scan): it is put with a FHIR
                  DocumentReference describing it, from --title (required), --code (the
                  document's type, such as http://loinc.org|11502-2), --date and
                  --patient (Patient/ID). A FHIR server shows the DocumentReference and
                  serves the file as its Binary.`,
		Example: `  rrec put scan.dcm
  REC=$(rrec put --network net/network.json -i patient.key labs.pdf)
  rrec put --fhir discharge-summary.json
  rrec put --fhir-attach labs.pdf --title "Laboratory report" --code 'http://loinc.org|11502-2' --date 2024-03-05 --patient Patient/1001`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", args[0])
			}
			meta, summary, content, size, err := typed.metadata(f, fi, mediaType)
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			bar := newPhaseBar(cmd.ErrOrStderr())
			defer bar.done()
			id, err := s.Put(ctx, content, size, meta, client.WithProgress(bar.update))
			bar.done()
			if err != nil && id != (protocol.ID{}) {
				// Committed, but a caregiver's delegation did not take it in: say both.
				fmt.Fprintln(cmd.OutOrStdout(), id)
				return fmt.Errorf("record %s is committed, but: %w", id, err)
			}
			if err != nil {
				return explain(err, "record")
			}
			typedNote(cmd.ErrOrStderr(), summary)
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&mediaType, "type", "", "media `TYPE` sealed with the file (default: guessed from its extension)")
	typed.add(cmd)
	return cmd
}

func newGrantCmd() *cobra.Command {
	var (
		cf       clientFlags
		to       string
		duration time.Duration
		purpose  purposeFlags
		consent  string
		forOwner string
	)
	cmd := &cobra.Command{
		Use:   "grant RECORD (--to PUBLIC_IDENTITY [--for DURATION] [--purpose CODE | --purpose-text TEXT] [--for-owner OWNER] | --from-consent FILE)",
		Short: "Let someone read one of your records; print the grant id",
		Long: `grant lets the holder of PUBLIC_IDENTITY read RECORD. It splits a re-encryption key into
one fragment per node, commits the grant (with commitments to the fragments, never the
fragments) and hands each node its fragment. The grant ends when you revoke it, or after
--for DURATION by the ledger's clock. It prints the grant id, which 'rrec revoke' takes.

--from-consent FILE grants what a FHIR R4 Consent says instead: one recipient (an actor
identified by its rrec1... identity), the period, the purpose. A Consent that says anything
this network cannot enforce — a deny, nested provisions, data classes, several actors — is
refused whole, each such part named; one naming another patient or another record too.

The purpose is recorded with the grant, for the audit log: a PurposeOfUse code with
--purpose (the code, or its name: TREAT and "treatment" are the same), or free text with
--purpose-text when no code fits.

` + purposeHelp(),
		Example: `  rrec grant $REC --to rrec1q... --for 720h --purpose TREAT
  rrec grant $REC --to "Dr Ada Smith" --for 720h --purpose "emergency treatment"
  rrec grant $REC --to "Dr Ada Smith" --for 72h --purpose-text "a second opinion"
  rrec grant $REC --from-consent consent.json
  rrec grant $REC --for-owner "Sam Patient" --to "Dr Ada Smith" --for 72h --purpose TREAT`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := parseID("record", args[0])
			if err != nil {
				return err
			}
			var pub identity.Public
			why, err := purpose.value()
			if err != nil {
				return err
			}
			opts := client.GrantOptions{Duration: duration, Purpose: why}
			var fromConsent *fhir.GrantRequest
			switch {
			case consent != "" && (to != "" || duration != 0 || purpose != purposeFlags{}):
				return errors.New("--from-consent takes the recipient, the period and the purpose from the Consent: drop --to, --for and --purpose")
			case consent != "" && forOwner != "":
				return errors.New("--from-consent grants your own records: drop --for-owner")
			case consent != "":
				if fromConsent, err = readConsent(consent); err != nil {
					return err
				}
				pub = fromConsent.Recipient
				opts = client.GrantOptions{NotBefore: fromConsent.NotBefore, NotAfter: fromConsent.NotAfter, Purpose: fromConsent.Purpose.String()}
				if fromConsent.Record != nil && *fromConsent.Record != rec {
					return fmt.Errorf("the Consent is about record %s, not %s", fromConsent.Record, rec)
				}
			case to == "":
				return errors.New("grant needs --to PUBLIC_IDENTITY (the rrec1... string the recipient's 'rrec pubkey' prints, or a contact's name), or --from-consent FILE")
			case strings.HasPrefix(strings.ToLower(strings.TrimSpace(to)), identity.PublicPrefix):
				if pub, err = identity.ParsePublic(to); err != nil {
					return fmt.Errorf("--to %q is not a public identity (want the rrec1... string 'rrec pubkey' prints): %w", to, err)
				}
			default:
				book, err := openContacts()
				if err != nil {
					return err
				}
				if pub, err = book.Resolve(to); err != nil {
					return fmt.Errorf("--to: %w (add them with 'rrec contacts add NAME IDENTITY', or give the rrec1... string 'rrec pubkey' prints)", err)
				}
			}
			if duration < 0 {
				return fmt.Errorf("--for %s: a grant cannot last a negative time", duration)
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			if fromConsent != nil && fromConsent.Patient != nil && *fromConsent.Patient != protocol.PubKeyOf(s.Identity().Signing) {
				return errors.New("the Consent names another patient than this identity")
			}
			var res *client.GrantResult
			if forOwner != "" {
				owner, perr := resolvePerson(forOwner, "--for-owner")
				if perr != nil {
					return perr
				}
				res, err = s.GrantFor(ctx, owner, rec, pub, opts)
				if err != nil && !errors.As(err, new(*client.DepositError)) {
					return explainDelegation(err, "record")
				}
			} else {
				res, err = s.Grant(ctx, rec, pub, opts)
			}
			var de *client.DepositError
			if errors.As(err, &de) {
				return fmt.Errorf("grant %s is committed but only %d of %d nodes took their fragment (%d needed): run the grant again later", res.Grant, de.Accepted, len(de.Results), de.Threshold)
			}
			if err != nil {
				return explain(err, "record")
			}
			if missed := len(res.Deposits) - res.Accepted; missed > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "rrec: warning: %d node(s) did not take their fragment; the grant works with the other %d\n", missed, res.Accepted)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Grant)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "recipient's `PUBLIC_IDENTITY` (rrec1...), or a name from 'rrec contacts'")
	cmd.Flags().DurationVar(&duration, "for", 0, "end the grant after `DURATION` (e.g. 90m, 720h; default: until revoked)")
	purpose.add(cmd, "why the recipient may read it, recorded in the audit log")
	cmd.Flags().StringVar(&forOwner, "for-owner", "", "grant as the caregiver of `OWNER` (rrec1..., or a contact name), one of their records")
	cmd.Flags().StringVar(&consent, "from-consent", "", "grant what the FHIR R4 Consent in `FILE` permits (one recipient, period, purpose)")
	return cmd
}

func newRevokeCmd() *cobra.Command {
	var (
		cf   clientFlags
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "revoke GRANT [--wait DURATION]",
		Short: "End a grant: nodes delete their fragments, refuse to re-encrypt, and say so",
		Long: `revoke commits the end of GRANT, and prints success only once f+1 nodes confirm the
commit. From the block that holds it every node refuses to re-encrypt for the grant and
deletes its key fragment; then each grant node reports on the ledger, in a transaction signed
with its own key, that it holds no fragment any more. revoke says how many have; --wait waits
for all of them (up to DURATION). What the recipient already read cannot be taken back.

A caregiver with the revoke right ('rrec delegate') revokes the owner's grants the same way,
while the delegation is live; the audit log shows it as the caregiver's for the owner.

Given a grant of one of your streams, revoke does what 'rrec stream revoke' does: it also
rekeys the stream, so nothing appended later opens with the revoked grant's fragments.`,
		Example: `  rrec revoke $GRANT
  rrec revoke $GRANT --wait 30s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "grant", args[0], func(ctx context.Context, s *client.Session, g protocol.ID) error {
				// A grant of the owner's own stream is revoked as 'rrec stream revoke' does,
				// rekeying the stream: a bare revoke would leave later entries under the key
				// whose fragments the revoked grant's nodes held.
				if sg, err := s.StreamGrant(ctx, g); err == nil && sg.Grant.Owner == protocol.PubKeyOf(s.Identity().Signing) {
					return revokeStreamGrant(ctx, cmd.ErrOrStderr(), s, g)
				}
				res, err := s.Revoke(ctx, g)
				if err != nil {
					return explainDelegation(err, "grant")
				}
				if wait > 0 && res.Destroyed < res.Nodes {
					wctx, cancel := context.WithTimeout(ctx, wait)
					defer cancel()
					if r, err := s.WaitDestroyed(wctx, g, 0); r != nil {
						res.Destroyed = r.Destroyed
					} else if err != nil && ctx.Err() == nil {
						return explain(err, "grant")
					}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s at height %d; %d of %d grant nodes confirmed destroying their fragment\n",
					g, res.Height, res.Destroyed, res.Nodes)
				if wait > 0 && res.Destroyed < res.Nodes {
					return fmt.Errorf("%d of %d grant nodes have not confirmed within %s: 'rrec audit' shows who did", res.Nodes-res.Destroyed, res.Nodes, wait)
				}
				return nil
			})
		},
	}
	cf.add(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to `DURATION` for every grant node to confirm destroying its fragment")
	return cmd
}

func newEraseCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "erase RECORD",
		Short: "Erase one of your records: revoke every grant, delete the ciphertext everywhere",
		Long: `erase commits the erasure of RECORD. In that block every grant of the record is revoked
(every node deletes its key fragments), and every node then deletes the record's ciphertext
and refuses to serve it. The ledger keeps a tombstone, and its history keeps the original put
(CID, size, capsule): see docs/threat-model.md. Plaintext a recipient already read is beyond
its reach. It cannot be undone.`,
		Example: `  rrec erase $REC`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				if err := s.Erase(ctx, rec); err != nil {
					return explain(err, "record")
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "erased", rec)
				return nil
			})
		},
	}
	cf.add(cmd)
	return cmd
}
