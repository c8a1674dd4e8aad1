//! A stateful local stand-in for GitHub and Render.
