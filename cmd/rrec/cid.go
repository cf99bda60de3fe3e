package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "cid FILE",
		Short:   "Print the IPFS CID of a file, as 'ipfs add --cid-version=1 --raw-leaves' would",
		Example: "  rrec cid scan.dcm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not implemented yet")
		},
	}
}
