// Command rrec is the Resilient Records tool: patients seal and share records, providers read
// what was shared with them, and node operators run the ledger nodes.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "rrec:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "rrec",
		Short: "Patient-owned medical records, shared record by record through threshold proxy re-encryption",
		Long: `rrec seals records on your device, stores the ciphertext by content address, and records
owners, grants, access requests and revocations on a permissioned BFT ledger whose nodes
re-encrypt for the providers you choose — and forget their key fragments when you revoke.`,
		Example: `  rrec demo                              # the whole story on a temporary network
  rrec devnet --dir /tmp/rrnet &         # a local network; then:
  export RREC_NETWORK=/tmp/rrnet/network.json RREC_IDENTITY=patient.key
  rrec keygen -o patient.key
  REC=$(rrec put scan.dcm)
  rrec grant $REC --to rrec1... --for 720h --purpose treatment`,
		// Shell completion stays available ('rrec completion bash') without crowding the list.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		SilenceUsage:      true,
		SilenceErrors:     true,
	}
	root.AddCommand(
		newKeygenCmd(),
		newPasswdCmd(),
		newPubkeyCmd(),
		newCIDCmd(),
		newDevnetCmd(),
		newPutCmd(),
		newGrantCmd(),
		newGetCmd(),
		newRevokeCmd(),
		newGrantsCmd(),
		newEraseCmd(),
		newLsCmd(),
		newAuditCmd(),
		newDemoCmd(),
		newStatusCmd(),
		newAppCmd(),
		newContactsCmd(),
		newAccountCmd(),
		newNodeCmd(),
		newFHIRCmd(),
		newRecoveryCmd(),
		newDelegateCmd(),
		newDelegationsCmd(),
		newEmergencyCmd(),
		newIssueCmd(), newInboxCmd(), newAcceptCmd(false), newAcceptCmd(true), newVerifyCmd(),
		newRotateCmd(),
		newStreamCmd(),
	)
	return root
}
