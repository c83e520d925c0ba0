"""Modal screens: the approval prompt and the session picker."""
