package e2e

// nodeBlobAPI says whether the SDK moves blobs through the nodes' blob API
// (issue 6). Until it does, the tests give the SDK a store of their own.
const nodeBlobAPI = false
