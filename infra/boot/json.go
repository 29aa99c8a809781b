package boot

import (
	"encoding/json"
	"fmt"
)

// jsonBytes stores bytes as a JSON string (base64), since items hold JSON.
func jsonBytes(b []byte) ([]byte, error) { return json.Marshal(b) }

func jsonString(data []byte, out *[]byte) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("boot: decode signing keys: %w", err)
	}
	return nil
}
