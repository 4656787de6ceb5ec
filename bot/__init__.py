"""Chat commands shared by every transport: declarations, parsing, dispatch, replies, following tasks."""
