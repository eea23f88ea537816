"""Reports rendered from analyses: self-contained HTML with embedded figures."""
