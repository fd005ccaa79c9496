package control

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI 3 document. It is written by hand and kept in step with routes by
// TestOpenAPIDocumentsEveryRoute.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPI)
	return err
}
