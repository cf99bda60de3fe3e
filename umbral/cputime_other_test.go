//go:build !linux

package umbral

func threadCPU() (int64, bool) { return 0, false }
