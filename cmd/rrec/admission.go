package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// admissionFlags choose a new network's admission rules.
type admissionFlags struct {
	enrolBits int
	file      string
}

func (a *admissionFlags) flags(cmd *cobra.Command) {
	cmd.Flags().IntVar(&a.enrolBits, "enrol-bits", int(protocol.DefaultAdmission.EnrolBits),
		"proof of work of a self-service enrolment, in `BITS` (each one doubles it); 0: only operators admit identities ('rrec node admit')")
	cmd.Flags().StringVar(&a.file, "admission", "", "admission rules from a JSON `FILE` (enrol_bits and the self, member and self_pool allowances; overrides --enrol-bits)")
}

func (a *admissionFlags) rules() (*protocol.AdmissionRules, error) {
	r := protocol.DefaultAdmission
	if a.file != "" {
		b, err := os.ReadFile(a.file)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("--admission %s: %w", a.file, err)
		}
	} else {
		if a.enrolBits < 0 || a.enrolBits > protocol.MaxEnrolBits {
			return nil, fmt.Errorf("--enrol-bits %d outside 0..%d", a.enrolBits, protocol.MaxEnrolBits)
		}
		r.EnrolBits = uint8(a.enrolBits)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func newAccountCmd() *cobra.Command {
	var (
		cf      clientFlags
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "account [--json]",
		Short: "Show whether this identity is admitted, and what it keeps against its allowance",
		Long: `account shows how the network admitted this identity (by a node's operator as a member, or by
itself with proof of work on the self tier) and what it keeps: live records, their bytes and
live grants, each against its tier's allowance. Erasing records and revoking grants makes
room.

An identity nobody admitted enrols itself at its first put, grant or get, where the network
allows self-service (a fraction of a second of work, once). On a network that admits through
its operators only, give one of them your public identity ('rrec pubkey').`,
		Example: `  rrec account -i me.key --network net.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			if note, err := retiredNote(ctx, s); err != nil || note != "" {
				if note != "" {
					fmt.Fprintln(cmd.OutOrStdout(), note)
				}
				return err
			}
			acc, err := s.Account(ctx)
			if errors.Is(err, client.ErrNotFound) {
				fmt.Fprintf(cmd.OutOrStdout(), "not admitted yet: the first put, grant or get enrols %s where the network allows it\n", s.Identity())
				return nil
			}
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), acc)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			how := "enrolled itself (proof of work)"
			if acc.By != nil {
				how = "admitted by the operator of node " + acc.By.String()[:12] + "…"
			}
			fmt.Fprintf(w, "tier\t%s, %s at height %d\n", acc.TierName, how, acc.Height)
			fmt.Fprintf(w, "records\t%d of %d\n", acc.Usage.Records, acc.Allowance.Records)
			fmt.Fprintf(w, "bytes\t%s of %s\n", humanBytes(acc.Usage.Bytes), humanBytes(acc.Allowance.Bytes))
			fmt.Fprintf(w, "live grants\t%d of %d\n", acc.Usage.Grants, acc.Allowance.Grants)
			return w.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the account as JSON")
	return cmd
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newNodeAdmitCmd() *cobra.Command {
	var (
		home, tier string
	)
	cmd := &cobra.Command{
		Use:   "admit --home DIR PUBLIC_IDENTITY...",
		Short: "Admit identities to the network, as this node's operator",
		Long: `admit lets identities transact on the network, as a clinic onboards its patients and staff:
it signs an Admit with this node's proxy key and sends it to the node's API, which must be
running. Members (the default tier) keep a hundred times the self-service allowance; 'self'
gives the allowance of a self-service enrolment. Admitting an admitted identity moves it to
the tier given. Identities are the rrec1... strings 'rrec pubkey' prints.`,
		Example: `  rrec node admit --home ./homes/node0 rrec1q...`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return errors.New("node admit needs --home DIR: the home of a running node of the network")
			}
			t := map[string]uint8{"member": protocol.TierMember, "self": protocol.TierSelf}[tier]
			if t == 0 {
				return fmt.Errorf("--tier %q: want member or self", tier)
			}
			var keys []protocol.PubKey
			for _, a := range args {
				pub, err := identity.ParsePublic(a)
				if err != nil {
					return fmt.Errorf("%q is not a public identity (want the rrec1... string 'rrec pubkey' prints): %w", a, err)
				}
				keys = append(keys, protocol.PubKeyOf(pub.Signing))
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
			for len(keys) > 0 {
				batch := keys[:min(len(keys), protocol.MaxAdmitBatch)]
				keys = keys[len(batch):]
				res, err := op.submit(ctx, &protocol.Admit{Tier: t, Accounts: batch})
				if err != nil {
					return err
				}
				what := fmt.Sprintf("%d identities", len(batch))
				if len(batch) == 1 {
					what = "1 identity"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "admitted %s as %s at height %d\n", what, tier, res.Height)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR` (its proxy key signs; its API must be running)")
	cmd.Flags().StringVar(&tier, "tier", "member", "`TIER` to admit on: member or self")
	return cmd
}

// operator sends transactions signed with a node's proxy key to that node's own API: its
// operator trusts it. The node's reports use the same account, so a sequence conflict is
// read again and retried.
type operator struct {
	api    string
	signer *umbral.Signer
}

func (o *operator) submit(ctx context.Context, body protocol.Body) (*protocol.TxResult, error) {
	var st protocol.Status
	if err := o.get(ctx, "/v1/status", &st); err != nil {
		return nil, err
	}
	self := protocol.PubKeyOf(o.signer.VerifyingKey())
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		var acc struct {
			Value struct {
				Sequence uint64 `json:"sequence"`
			} `json:"value"`
		}
		if err := o.get(ctx, "/v1/query/account/"+self.String(), &acc); err != nil {
			return nil, err
		}
		raw, err := protocol.Sealed(o.signer, st.ChainID, acc.Value.Sequence, time.Now().Add(5*time.Minute), body)
		if err != nil {
			return nil, err
		}
		var res protocol.TxResult
		err = o.do(ctx, http.MethodPost, "/v1/tx", raw, &res)
		if err == nil {
			if e := res.Err(); e != nil {
				return nil, e
			}
			return &res, nil
		}
		if !errors.Is(err, protocol.ErrBadSequence) {
			return nil, err
		}
		lastErr = err
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return nil, lastErr
}

func (o *operator) get(ctx context.Context, path string, out any) error {
	return o.do(ctx, http.MethodGet, path, nil, out)
}

func (o *operator) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, o.api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("node API %s: %w (is the node running?)", o.api, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error *protocol.Error `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			return e.Error
		}
		return fmt.Errorf("node API %s%s: HTTP %d: %s", o.api, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}
