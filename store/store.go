// Package store defines the content-addressed blob store that holds record ciphertext.
//
// A blob is put as a byte stream and comes back as the IPFS CID that
// 'ipfs add --cid-version=1 --raw-leaves' gives the same bytes (see SPEC.md for the frozen import
// profile). Every implementation verifies the hash of every block it reads, so a Get either returns
// the exact bytes that were put or fails with ErrCorrupt or ErrNotFound.
//
// Two implementations exist: store/local (an embedded flatfs blockstore, no daemon) and store/kubo
// (a kubo daemon over its HTTP RPC API). Both pass the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"io"

	"github.com/ipfs/go-cid"
)

// Errors callers must tell apart. Implementations wrap them with context; test with errors.Is.
var (
	// ErrNotFound means the store does not hold the requested blob (or one of its blocks).
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt means a block read back does not hash to its CID, or a DAG node is malformed.
	ErrCorrupt = errors.New("store: corrupt block")
	// ErrTooLarge means a put or CAR import exceeded the store's configured maximum size.
	ErrTooLarge = errors.New("store: blob exceeds the maximum size")
	// ErrRange means a byte range lies outside the blob.
	ErrRange = errors.New("store: byte range outside the blob")
	// ErrInvalidCAR means a CAR stream is malformed, incomplete, or not a UnixFS file DAG.
	ErrInvalidCAR = errors.New("store: invalid CAR")
	// ErrUnsupported means a CID or DAG is outside what the stores handle: only sha2-256 CIDs
	// of raw or dag-pb blocks forming a UnixFS file.
	ErrUnsupported = errors.New("store: unsupported CID or DAG")
)

// Store is a content-addressed blob store. Blobs are UnixFS files built with the frozen import
// profile; a "root" is the CID of a stored blob.
//
// All methods are safe for concurrent use.
type Store interface {
	// Put reads r to EOF, stores it, and returns its CID and length in bytes.
	// If r yields more than the store's maximum size, Put fails with ErrTooLarge and stores nothing.
	Put(ctx context.Context, r io.Reader) (cid.Cid, int64, error)

	// Get returns the whole blob. The reader verifies every block as it goes; a read error
	// wrapping ErrCorrupt means the bytes so far must be discarded.
	Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error)

	// GetRange returns length bytes starting at offset, or up to the end of the blob if fewer
	// remain (length < 0 means to the end). Only the blocks covering the range are read.
	// An offset beyond the end of the blob is ErrRange.
	GetRange(ctx context.Context, c cid.Cid, offset, length int64) (io.ReadCloser, error)

	// Size returns the length in bytes of a stored blob.
	Size(ctx context.Context, c cid.Cid) (int64, error)

	// Has reports whether c is a stored root.
	Has(ctx context.Context, c cid.Cid) (bool, error)

	// Delete removes the root c and, before returning, every block no other stored root uses.
	// Deleting a CID that is not a stored root is ErrNotFound.
	Delete(ctx context.Context, c cid.Cid) error

	// List returns the stored roots in no particular order.
	List(ctx context.Context) ([]cid.Cid, error)

	// ExportCAR writes the blob c as a CARv1 stream with c as its single root and the blocks in
	// depth-first pre-order, each verified as it is read.
	ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error

	// ImportCAR reads a CARv1 or CARv2 stream, verifies every block, checks that the DAG of every
	// header root is complete, and stores those roots. It returns the roots it stored.
	// A malformed or incomplete CAR is ErrInvalidCAR and leaves the store as it was.
	ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error)

	// Close releases the store's resources.
	Close() error
}
