package node

// Hooks for the package's external tests.

// TamperChunks makes n serve the snapshot chunks f returns in place of its own, as a lying
// peer would; nil makes it honest again.
func TamperChunks(n *Node, f func(height uint64, index uint32, chunk []byte) []byte) {
	if f == nil {
		n.app.tamper.Store(nil)
		return
	}
	n.app.tamper.Store(&f)
}

// SetSnapshotChunkTarget makes snapshots cut chunks at about size bytes until the returned
// function is called; set it before any node starts.
func SetSnapshotChunkTarget(size int) (restore func()) {
	old := snapshotChunkTarget.Swap(int64(size))
	return func() { snapshotChunkTarget.Store(old) }
}

// BlockBase is the lowest block in n's block store.
func BlockBase(n *Node) int64 { return n.cmt.BlockStore().Base() }
