package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/store/local"
)

func newCIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cid FILE",
		Short: "Print the IPFS CID of a file, as 'ipfs add --cid-version=1 --raw-leaves' would",
		Long: `cid prints the CID that 'ipfs add --cid-version=1 --raw-leaves' gives FILE under kubo's
default import settings (256 KiB chunks, balanced layout, 174 links per node, CIDv1, raw leaves).
It computes the CID locally: no daemon, nothing stored. Use - to read standard input.`,
		Example: "  rrec cid scan.dcm\n  tar c scans/ | rrec cid -",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil && st.IsDir() {
					return fmt.Errorf("%s is a directory; cid takes one file", args[0])
				}
				in = f
			}
			c, _, err := local.CID(in)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c)
			return err
		},
	}
}
