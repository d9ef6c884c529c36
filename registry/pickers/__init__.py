"""Searchable pickers: find a school, partner or service by typing, instead of a menu of all.

`search` answers the queries (confined to what the user may see), `fields` holds the form
fields that carry chosen ids, `steps` runs the search-then-choose step of a form sent
without JavaScript, and `views` serves the search to the enhanced widget (static/picker.js).
"""
