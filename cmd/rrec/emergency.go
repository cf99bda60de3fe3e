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
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func newNodeRegisterServiceCmd() *cobra.Command {
	var (
		home, name, org string
		clinicians      []string
	)
	cmd := &cobra.Command{
		Use:   "register-service --home DIR --name NAME --org IDENTITY --clinician NAME=IDENTITY...",
		Short: "Register an emergency service and its clinicians, as this node's operator",
		Long: `register-service registers an emergency service for break-glass reads: the organisation's
public identity (its station holds the secret: the nodes re-encrypt pre-authorised records for
it) and at least two clinicians, each NAME=IDENTITY, whose signing keys ask for and co-sign
emergency reads. It signs with this node's proxy key, which must be a registry node's, and
sends the transaction to the node's API, which must be running. Registering the same name
with the same organisation again replaces the clinicians; the roster is checked when an
emergency request commits.`,
		Example: `  rrec node register-service --home ./homes/node0 --name 'City ED' --org rrec1q... \
      --clinician 'Dr Ana Reyes=rrec1q...' --clinician 'Dr Ben Ode=rrec1q...'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return errors.New("register-service needs --home DIR: the home of a running registry node")
			}
			orgID, err := identity.ParsePublic(org)
			if err != nil {
				return fmt.Errorf("--org %q is not a public identity (want the rrec1... string 'rrec pubkey' prints): %w", org, err)
			}
			body := &protocol.RegisterService{Name: name, Org: protocol.PubKeyOf(orgID.Signing), OrgEnc: protocol.PubKeyOf(orgID.Receiving)}
			for _, c := range clinicians {
				who, key, ok := strings.Cut(c, "=")
				pub, err := identity.ParsePublic(strings.TrimSpace(key))
				if !ok || err != nil {
					return fmt.Errorf("--clinician %q: want NAME=IDENTITY, the identity the rrec1... string 'rrec pubkey' prints", c)
				}
				body.Clinicians = append(body.Clinicians, protocol.Clinician{Key: protocol.PubKeyOf(pub.Signing), Name: strings.TrimSpace(who)})
			}
			sk, err := node.LoadProxyKey(home)
			if err != nil {
				return err
			}
			s, err := node.ReadSettings(home)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			op := &operator{api: "http://" + s.APIAddr, signer: umbral.NewSigner(sk)}
			res, err := op.submit(ctx, body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered service %q with %d clinicians at height %d\n", name, len(body.Clinicians), res.Height)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR` (its proxy key signs; its API must be running)")
	cmd.Flags().StringVar(&name, "name", "", "the service's `NAME`, as patients pre-authorise it")
	cmd.Flags().StringVar(&org, "org", "", "the organisation's public `IDENTITY`")
	cmd.Flags().StringArrayVar(&clinicians, "clinician", nil, "a clinician as `NAME=IDENTITY` (at least two)")
	return cmd
}

func newEmergencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emergency",
		Short: "Break-glass: pre-authorise an emergency service; co-sign and make an emergency read",
		Long: `Break-glass lets an emergency team read records of a patient who cannot consent at that
moment, only if the patient said so beforehand:

  1. the patient pre-authorises a registered service for a record ('emergency authorise');
     without that, nothing can be read: no key of the patient's is anywhere else;
  2. in an emergency a second clinician of the service co-signs the first one's request
     ('emergency cosign'), for the reason both state;
  3. the first clinician, at the service's station, commits the request and reads with the
     organisation's key ('emergency read'). The read serves for an hour of block time; the
     record's audit shows an emergency entry with both clinicians and the reason.`,
		Example: `  rrec emergency authorise $REC --service 'City ED'                 # the patient, beforehand
  rrec emergency cosign $REC --service 'City ED' --requester rrec1q... --reason 'unconscious' -i ben.key
  rrec emergency read $REC --reason 'unconscious' --cosignature rrec-cosig1-... --org org.key -i ada.key -o chart.pdf`,
	}
	cmd.AddCommand(newEmergencyAuthoriseCmd(), newEmergencyCoSignCmd(), newEmergencyReadCmd())
	return cmd
}

func newEmergencyAuthoriseCmd() *cobra.Command {
	var (
		cf      clientFlags
		service string
	)
	cmd := &cobra.Command{
		Use:   "authorise RECORD --service NAME",
		Short: "Pre-authorise a registered emergency service to read RECORD in an emergency",
		Long: `authorise grants RECORD to the organisation of the emergency service registered as NAME.
Its clinicians can then read it in an emergency, two of them together, each read in the
audit with both names and the reason. Revoke it as any grant ('rrec revoke GRANT').`,
		Example: `  rrec emergency authorise $REC --service 'City ED'`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				res, err := s.PreAuthorise(ctx, rec, service, client.GrantOptions{})
				if err != nil {
					return explain(err, "record or service")
				}
				fmt.Fprintln(cmd.OutOrStdout(), res.Grant)
				return nil
			})
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&service, "service", "", "the emergency service's registered `NAME`")
	return cmd
}

func newEmergencyCoSignCmd() *cobra.Command {
	var (
		cf                         clientFlags
		service, requester, reason string
	)
	cmd := &cobra.Command{
		Use:   "cosign RECORD --service NAME --requester IDENTITY --reason TEXT",
		Short: "Co-sign another clinician's emergency read of RECORD; prints the co-signature",
		Long: `cosign is the second clinician's consent: it signs the emergency request the requesting
clinician (--requester, a public identity) is about to make for RECORD with --reason, and
prints the co-signature to hand over. It serves that one request only: it covers the
requester's next transaction and lapses in five minutes.`,
		Example: `  rrec emergency cosign $REC --service 'City ED' --requester rrec1q... --reason 'unconscious on arrival' -i ben.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := identity.ParsePublic(requester)
			if err != nil {
				return fmt.Errorf("--requester %q is not a public identity: %w", requester, err)
			}
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				cs, err := s.CoSign(ctx, rec, service, protocol.PubKeyOf(req.Signing), reason)
				if err != nil {
					return explain(err, "record or service")
				}
				fmt.Fprintln(cmd.OutOrStdout(), cs)
				return nil
			})
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&service, "service", "", "the emergency service's registered `NAME`")
	cmd.Flags().StringVar(&requester, "requester", "", "the requesting clinician's public `IDENTITY`")
	cmd.Flags().StringVar(&reason, "reason", "", "the reason, as the requester will state it")
	return cmd
}

func newEmergencyReadCmd() *cobra.Command {
	var (
		cf                      clientFlags
		reason, cosig, org, out string
	)
	cmd := &cobra.Command{
		Use:   "read RECORD --reason TEXT --cosignature SIG --org FILE -o FILE",
		Short: "Read RECORD in an emergency, co-signed, at the service's station",
		Long: `read commits the emergency request for RECORD, signed with your clinician identity (-i)
and co-signed by a second clinician ('rrec emergency cosign', with the same --reason), then
has the nodes re-encrypt the record for the organisation's identity (--org, the station's)
and writes it to -o. It is refused without the patient's pre-authorisation, without a valid
co-signature of another clinician of the service, or with a different reason.`,
		Example: `  rrec emergency read $REC --reason 'unconscious on arrival' --cosignature rrec-cosig1-... \
      -i ana.key --org station.key -o record.pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" || org == "" {
				return errors.New("read needs --org FILE (the organisation's identity) and -o FILE")
			}
			cs, err := client.ParseCoSignature(cosig)
			if err != nil {
				return err
			}
			orgID, err := loadIdentity(org)
			if err != nil {
				return err
			}
			return cf.withID(cmd, "record", args[0], func(ctx context.Context, s *client.Session, rec protocol.ID) error {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				_, err = s.EmergencyRead(ctx, rec, reason, cs, orgID, f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
					if errors.Is(err, client.ErrUnauthorized) {
						// The roster, the co-signature or the reason: the ledger says which.
						return fmt.Errorf("emergency read refused: %w", err)
					}
					return explain(err, "record")
				}
				return nil
			})
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, as the co-signer signed it (in the patient's audit)")
	cmd.Flags().StringVar(&cosig, "cosignature", "", "the co-signature `SIG` 'rrec emergency cosign' printed")
	cmd.Flags().StringVar(&org, "org", "", "the organisation's identity `FILE`")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the record to `FILE`")
	return cmd
}
