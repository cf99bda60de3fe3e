package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/identity"
)

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create a new identity and print its public identity",
		Long: `keygen creates a new identity — one secret seed from which your signing key, your
receiving key and one key per record are derived — and writes it to FILE with mode 0600.
It never overwrites an existing file. Keep the file secret and back it up: records sealed
under it cannot be opened without it.

It prints the public identity, the short string you hand to others so that they can grant
you access (and that nodes use to check your signatures).`,
		Example: `  rrec keygen -o ~/.rrec/patient.key
  export RREC_IDENTITY=~/.rrec/patient.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("keygen needs -o FILE: the identity is a secret and is only written to a file")
			}
			id, err := identity.Generate()
			if err != nil {
				return err
			}
			if err := identity.WriteFile(out, id); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id.Public())
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the new identity to `FILE` (mode 0600, never overwritten)")
	return cmd
}

func newPubkeyCmd() *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:     "pubkey [-i FILE]",
		Short:   "Print the public identity of an identity file",
		Example: "  rrec pubkey -i ~/.rrec/patient.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := loadIdentity(in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id.Public())
			return nil
		},
	}
	addIdentityFlag(cmd, &in)
	return cmd
}

// addIdentityFlag gives a command the -i flag that every client command shares.
func addIdentityFlag(cmd *cobra.Command, in *string) {
	cmd.Flags().StringVarP(in, "identity", "i", "", "identity `FILE` (default $RREC_IDENTITY)")
}

func loadIdentity(path string) (*identity.Identity, error) {
	if path == "" {
		path = os.Getenv("RREC_IDENTITY")
	}
	if path == "" {
		return nil, errors.New("no identity: pass -i FILE or set RREC_IDENTITY (create one with 'rrec keygen -o FILE')")
	}
	return identity.ReadFile(path)
}
