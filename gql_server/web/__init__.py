"""The reference web client: static pages (HTML, CSS, ES modules) that drive every flow over /graphql.

No build step: the files under `static/` and `pages/` are served as they are, and every GraphQL
document the client sends is one of `operations/*.graphql` (also reachable as `schema/operations`).
"""
