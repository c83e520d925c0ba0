"""Model backends. Import the concrete ones lazily: the local engine pulls in torch."""
