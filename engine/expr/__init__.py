"""The tierwise expression language (SPEC §3): lexer, parser, type checker, compiler."""
