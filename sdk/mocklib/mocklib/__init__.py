"""MockFactory Marketplace client SDK."""
