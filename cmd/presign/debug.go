package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// startDebug serves net/http/pprof on addr (PRESIGN_PPROF, e.g. 127.0.0.1:6060) so that a
// running node can be profiled; it is off unless asked for, and never on a public address by
// default.
func startDebug(addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("pprof listener", "addr", addr, "err", err)
		return
	}
	log.Info("pprof listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	go http.Serve(ln, mux)
}
