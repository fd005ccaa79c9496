//go:build !linux

package tcpcc

func set(uintptr, string) error { return ErrUnsupported }

func get(uintptr) (string, error) { return "", ErrUnsupported }

func check(string) error { return ErrUnsupported }
