"""Python functions that recipes in this folder call as local steps (``python: "steps.<module>:<function>"``)."""
